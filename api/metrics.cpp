#include "api/metrics.h"

#include <cmath>
#include <cstdio>

namespace pathsteer {

namespace {

std::string escape(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

std::string number(double v) {
  if (std::isnan(v))
    return "NaN";
  if (std::isinf(v))
    return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.17g", v);
  return buf;
}

}  // namespace

void MetricsWriter::family(const std::string& name, const std::string& type,
                           const std::string& help) {
  name_ = name;
  out_ += "# HELP " + name + " " + help + "\n";
  out_ += "# TYPE " + name + " " + type + "\n";
}

void MetricsWriter::sample(const Labels& labels, double value) {
  suffixed_sample("", labels, value);
}

void MetricsWriter::suffixed_sample(const std::string& suffix, const Labels& labels, double value) {
  out_ += name_ + suffix;
  if (!labels.empty()) {
    out_ += "{";
    for (size_t i = 0; i < labels.size(); ++i) {
      if (i > 0)
        out_ += ",";
      out_ += labels[i].first + "=\"" + escape(labels[i].second) + "\"";
    }
    out_ += "}";
  }
  out_ += " " + number(value) + "\n";
}

}  // namespace pathsteer

namespace pathsteer {

namespace {

// The uplink figures as /metrics reports them (known to the prober or not).
struct UplinkFigures {
  std::string name;
  const UplinkHealth* h;
};

// One probe target of an uplink: "ADDR" for icmp, "ADDR:PORT" or "[V6ADDR]:PORT" for udp/tcp.
std::string target_label(const TargetHealth& t) {
  if (t.port == 0)
    return t.target.to_string();
  std::string addr = t.target.is_v6() ? "[" + t.target.to_string() + "]" : t.target.to_string();
  return addr + ":" + std::to_string(t.port);
}

// The figures of each probe target (an uplink's own figures combine its targets).
void write_targets(MetricsWriter& m, const StatusSnapshot& s) {
  auto figure = [&](const char* name, const char* help, auto get) {
    m.family(name, "gauge", help);
    for (const auto& w : s.wans) {
      for (const auto& t : w.targets) {
        if (t.received > 0)
          m.sample({{"uplink", w.planned.name},
                    {"target", target_label(t)},
                    {"method", to_string(t.method)}},
                   get(t));
      }
    }
  };
  figure("pathsteer_target_rtt_seconds", "Mean round-trip time of the target's last replies.",
         [](const TargetHealth& t) { return t.rtt_ms / 1000; });
  figure("pathsteer_target_jitter_seconds", "The target's jitter (RFC 3550).",
         [](const TargetHealth& t) { return t.jitter_ms / 1000; });
  figure("pathsteer_target_loss_ratio", "The target's probe loss over its last probes (0..1).",
         [](const TargetHealth& t) { return t.loss_pct / 100; });
}

void write_uplinks(MetricsWriter& m, const std::vector<UplinkFigures>& ups,
                   const StatusSnapshot& s) {
  m.family("pathsteer_uplink_up", "gauge", "1 if the uplink is usable (up or degraded), else 0.");
  for (const auto& u : ups) {
    bool up =
        u.h != nullptr && (u.h->state == HealthState::kUp || u.h->state == HealthState::kDegraded);
    m.sample({{"uplink", u.name}}, up ? 1 : 0);
  }
  m.family("pathsteer_uplink_state", "gauge", "1 for the uplink's current health state.");
  for (const auto& u : ups) {
    for (HealthState st :
         {HealthState::kUnknown, HealthState::kUp, HealthState::kDegraded, HealthState::kDown}) {
      bool is = u.h != nullptr ? u.h->state == st : st == HealthState::kUnknown;
      m.sample({{"uplink", u.name}, {"state", to_string(st)}}, is ? 1 : 0);
    }
  }
  auto figure = [&](const char* name, const char* help, auto get) {
    m.family(name, "gauge", help);
    for (const auto& u : ups) {
      if (u.h != nullptr && u.h->received > 0)
        m.sample({{"uplink", u.name}}, get(*u.h));
    }
  };
  figure("pathsteer_uplink_rtt_seconds", "Mean probe round-trip time.",
         [](const UplinkHealth& h) { return h.rtt_ms / 1000; });
  figure("pathsteer_uplink_jitter_seconds", "Probe jitter (RFC 3550).",
         [](const UplinkHealth& h) { return h.jitter_ms / 1000; });
  figure("pathsteer_uplink_loss_ratio", "Probe loss over the loss window (0..1).",
         [](const UplinkHealth& h) { return h.loss_pct / 100; });
  auto counter = [&](const char* name, const char* help, auto get) {
    m.family(name, "counter", help);
    for (const auto& u : ups)
      m.sample({{"uplink", u.name}}, u.h != nullptr ? static_cast<double>(get(*u.h)) : 0);
  };
  // The Unix time of the last state change: changes() over a window counts the flips.
  m.family("pathsteer_uplink_state_since_timestamp_seconds", "gauge",
           "Unix time of the uplink's last health state change (or the daemon's start).");
  for (const auto& w : s.wans)
    m.sample({{"uplink", w.planned.name}}, static_cast<double>(w.state_since_ms) / 1000);
  counter("pathsteer_probes_sent_total", "Probes sent.",
          [](const UplinkHealth& h) { return h.sent; });
  counter("pathsteer_probes_received_total", "Probe replies received.",
          [](const UplinkHealth& h) { return h.received; });
  counter("pathsteer_probes_failed_total", "Probes that failed (timeout or ICMP error).",
          [](const UplinkHealth& h) { return h.failed; });
  write_targets(m, s);
}

void write_lateness(MetricsWriter& m, const StatusSnapshot& s) {
  m.family("pathsteer_probe_lateness_p99_seconds", "gauge",
           "99th percentile of probe send lateness since start.");
  m.sample(s.prober.lateness_p99_ms / 1000);
  // A histogram too, so that percentiles over any window (rate() in Prometheus, or a
  // benchmark's before/after) can be computed; the edges are edges of the prober's 0.05 ms
  // buckets, so the counts are exact.
  const LatencyHistogram& lh = s.lateness;
  m.family("pathsteer_probe_lateness_seconds", "histogram",
           "Probe send lateness: handed to the kernel minus nominal send time (negative: early).");
  // Edges every 1.5-2x up to 50 ms: a loaded host moves lateness into the tens of ms, and a
  // test that allows the host's own lateness plus a budget must not lose a factor of 2.5 to
  // the next edge.
  for (double le_ms : {-10.0, -5.0, -2.0, -1.0, -0.5, -0.2, -0.1, 0.0,  0.05, 0.1,  0.2, 0.5,
                       1.0,   2.0,  3.0,  5.0,  7.5,  10.0, 15.0, 20.0, 30.0, 40.0, 50.0}) {
    char le[32];
    std::snprintf(le, sizeof(le), "%g", le_ms / 1000);
    m.suffixed_sample("_bucket", {{"le", le}}, static_cast<double>(lh.count_below(le_ms)));
  }
  m.suffixed_sample("_bucket", {{"le", "+Inf"}}, static_cast<double>(lh.count()));
  m.suffixed_sample("_sum", {}, lh.sum_ms() / 1000);
  m.suffixed_sample("_count", {}, static_cast<double>(lh.count()));
}

void write_datapath(MetricsWriter& m, const StatusSnapshot& s) {
  if (!s.datapath.counters)
    return;
  const DatapathCounters& c = *s.datapath.counters;
  m.family("pathsteer_class_packets_total", "counter", "Packets classified into the class.");
  for (const auto& cs : s.classes) {
    if (cs.traffic)
      m.sample({{"class", cs.planned.name}}, static_cast<double>(cs.traffic->packets));
  }
  m.family("pathsteer_class_bytes_total", "counter", "Bytes classified into the class.");
  for (const auto& cs : s.classes) {
    if (cs.traffic)
      m.sample({{"class", cs.planned.name}}, static_cast<double>(cs.traffic->bytes));
  }
  // What the data plane steered to each uplink (every class together).
  m.family("pathsteer_uplink_packets_total", "counter",
           "Packets the data plane steered to the uplink.");
  for (const auto& w : s.wans) {
    if (w.traffic)
      m.sample({{"uplink", w.planned.name}}, static_cast<double>(w.traffic->packets));
  }
  m.family("pathsteer_uplink_bytes_total", "counter",
           "Bytes the data plane steered to the uplink.");
  for (const auto& w : s.wans) {
    if (w.traffic)
      m.sample({{"uplink", w.planned.name}}, static_cast<double>(w.traffic->bytes));
  }
  m.family("pathsteer_datapath_packets_total", "counter",
           "Packets the classifier passed without a class, by reason.");
  m.sample({{"reason", "parse_error"}}, static_cast<double>(c.parse_errors));
  m.sample({{"reason", "not_ip"}}, static_cast<double>(c.non_ip));
  m.sample({{"reason", "link_scope"}}, static_cast<double>(c.link_scope));
  m.sample({{"reason", "unclassified"}}, static_cast<double>(c.unclassified));
  m.family("pathsteer_datapath_over_quota_packets_total", "counter",
           "Packets of new flows of a LAN source over its share of the flow table (not pinned).");
  m.sample(static_cast<double>(c.over_quota));
  m.family("pathsteer_datapath_source_flows", "gauge",
           "Flow-table entries of the LAN sources holding the most (the quota's count).");
  for (const SourceFlows& f : c.top_sources)
    m.sample({{"source", f.source}}, static_cast<double>(f.flows));
  m.family("pathsteer_datapath_source_over_quota_packets_total", "counter",
           "Packets of the source's new flows refused a flow-table entry (over its quota).");
  for (const SourceFlows& f : c.top_sources)
    m.sample({{"source", f.source}}, static_cast<double>(f.over_quota));

  // DNS learning (DESIGN §10).
  const DnsCounters& d = c.dns;
  m.family("pathsteer_dns_replies_total", "counter",
           "DNS replies seen on the LAN interfaces' egress, by outcome.");
  m.sample({{"outcome", "parsed"}}, static_cast<double>(d.replies));
  m.sample({{"outcome", "no_match"}}, static_cast<double>(d.no_match));
  m.sample({{"outcome", "truncated"}}, static_cast<double>(d.truncated));
  m.sample({{"outcome", "not_answer"}}, static_cast<double>(d.not_answer));
  m.family("pathsteer_dns_addresses_total", "counter",
           "Addresses learned from DNS replies, by event.");
  m.sample({{"event", "learned"}}, static_cast<double>(d.learned));
  m.sample({{"event", "refreshed"}}, static_cast<double>(d.refreshed));
  m.sample({{"event", "evicted"}}, static_cast<double>(d.evicted));
  m.sample({{"event", "full"}}, static_cast<double>(d.full));
  m.family("pathsteer_dns_parse_failures_total", "counter",
           "DNS replies not learned from (passed unchanged), by reason.");
  for (const char* reason :
       {"short", "loop", "name", "count", "class", "rdata", "chain", "too-big", "fragment"}) {
    auto it = d.failures.find(reason);
    m.sample({{"reason", reason}}, it == d.failures.end() ? 0.0 : static_cast<double>(it->second));
  }
  m.family("pathsteer_dns_skipped_records_total", "counter",
           "Records of other types on a reply's CNAME chain (ignored).");
  m.sample(static_cast<double>(d.skipped_records));
}

}  // namespace

std::string metrics_text(const StatusSnapshot& s, const EventLoop::Stats& loop) {
  MetricsWriter m;
  m.family("pathsteer_build_info", "gauge", "Build information; the value is always 1.");
  m.sample({{"version", s.version}}, 1);
  m.family("pathsteer_uptime_seconds", "gauge", "Seconds since the daemon started.");
  m.sample(s.uptime_s);
  m.family("pathsteer_policy_generation", "gauge", "Policies adopted since start (1 = the first).");
  m.sample(static_cast<double>(s.generation));
  m.family("pathsteer_policy_rejections_total", "counter", "Policy reloads rejected.");
  m.sample(static_cast<double>(s.policy_rejections));
  m.family("pathsteer_intents", "gauge", "Intents stored (applying or not).");
  m.sample(static_cast<double>(s.intents.size()));

  std::vector<UplinkFigures> ups;
  for (const auto& w : s.wans)
    ups.push_back({w.planned.name, w.health ? &*w.health : nullptr});
  write_uplinks(m, ups, s);
  write_lateness(m, s);
  // What delays the probes: a loop callback that runs long (the loop is one thread).
  m.family("pathsteer_event_loop_callbacks_total", "counter", "Event-loop callbacks run.");
  m.sample(static_cast<double>(loop.callbacks));
  m.family("pathsteer_event_loop_slow_callbacks_total", "counter",
           "Event-loop callbacks that ran longer than 2 ms.");
  m.sample(static_cast<double>(loop.slow_callbacks));
  m.family("pathsteer_event_loop_callback_max_seconds", "gauge",
           "The longest event-loop callback since start.");
  m.sample(std::chrono::duration<double>(loop.max_callback).count());

  m.family("pathsteer_class_info", "gauge",
           "1 per class, labelled with its current uplink (\"\" on last_resort) and reason.");
  for (const auto& cs : s.classes) {
    const PlannedClass& c = cs.planned;
    m.sample({{"class", c.name}, {"uplink", c.uplink.value_or("")}, {"reason", c.reason}}, 1);
  }
  write_datapath(m, s);
  m.family("pathsteer_reconcile_runs_total", "counter", "Reconcile passes against the kernel.");
  m.sample(static_cast<double>(s.reconcile.runs));
  m.family("pathsteer_reconcile_changes_total", "counter", "Kernel changes made, by result.");
  m.sample({{"result", "applied"}}, static_cast<double>(s.reconcile.changes_applied));
  m.sample({{"result", "failed"}}, static_cast<double>(s.reconcile.changes_failed));
  m.family("pathsteer_reconcile_dump_failures_total", "counter", "Kernel dumps that failed.");
  m.sample(static_cast<double>(s.reconcile.dump_failures));
  m.family("pathsteer_reconcile_last_duration_seconds", "gauge", "Duration of the last pass.");
  m.sample(s.last_run_ms / 1000);
  m.family("pathsteer_netlink_overruns_total", "counter",
           "Netlink event socket overruns (each followed by a full resync).");
  m.sample(static_cast<double>(s.overruns));
  m.family("pathsteer_kernel_synced", "gauge", "1 if the kernel holds the plan, else 0.");
  m.sample(s.synced ? 1 : 0);
  return m.text();
}

}  // namespace pathsteer
