// Interfaces -> wans (import/mwan3_converter.h): each enabled interface's device, the
// merging of an IPv6 pair into one wan, and track_ip and the probing options as the
// wan's probes and health.
#include <algorithm>
#include <set>
#include <string>
#include <utility>

#include "common/net.h"
#include "import/mwan3_converter.h"

namespace pathsteer::mwan3::detail {

namespace {

// mwan3 2.12's documented options of an interface section.
const std::set<std::string> kInterfaceOptions = {"enabled",
                                                 "initial_state",
                                                 "family",
                                                 "track_ip",
                                                 "track_method",
                                                 "reliability",
                                                 "count",
                                                 "size",
                                                 "max_ttl",
                                                 "check_quality",
                                                 "failure_latency",
                                                 "failure_loss",
                                                 "recovery_latency",
                                                 "recovery_loss",
                                                 "timeout",
                                                 "interval",
                                                 "failure_interval",
                                                 "keep_failure_interval",
                                                 "recovery_interval",
                                                 "down",
                                                 "up",
                                                 "flush_conntrack",
                                                 "httping_ssl"};

}  // namespace

// ---- interfaces -> wans ----
void Converter::read_interfaces() {
  for (auto& i : ifaces_) {
    const Section& s = *i.s;
    unknown_options(s, kInterfaceOptions);
    i.enabled = boolean(s, "enabled", false);
    read_family(s, i.v4, i.v6);
    std::string how;
    if (auto d = device_of(s.name, how)) {
      i.device = *d;
      i.device_known = true;
      i.device_how = how;
    } else {
      i.device = s.name;
      i.device_how = how;
    }
  }
  // IPv6 pairs: an ipv6-only interface on the device of an ipv4 one joins its
  // wan. Names first (ipv4 and dual-stack interfaces), then the ipv6 ones join or stand alone.
  for (int pass = 0; pass < 2; ++pass) {
    for (auto& i : ifaces_) {
      if (!i.enabled || (pass == 0) != i.v4)
        continue;
      if (pass == 0 && i.device_known) {
        // A second ipv4 interface on a device that already has a wan (a
        // macvlan-less setup netifd would not route either): one wan.
        Iface* first = nullptr;
        for (auto& j : ifaces_) {
          if (&j != &i && !j.wan.empty() && j.device_known && j.device == i.device && j.v4)
            first = first ? first : &j;
        }
        if (first) {
          note(*i.s, "", i.s->line,
               "same device (" + i.device + ") as interface '" + first->s->name +
                   "': pathsteer has one wan per device, so this interface's members use wan '" +
                   first->wan + "' and its own tracking is not carried over");
          i.wan = first->wan;
          continue;
        }
      }
      if (pass == 1) {
        for (auto& j : ifaces_) {
          if (&j == &i || !j.enabled || !j.v4 || j.wan.empty())
            continue;
          bool same = i.device_known && j.device_known ? i.device == j.device
                                                       : i.s->name == j.s->name + "6";
          if (!same)
            continue;
          join_pair(i, j);
          break;
        }
        if (!i.wan.empty())
          continue;
      }
      add_wan(i);
    }
  }
  for (auto& i : ifaces_) {
    if (!i.enabled)
      disabled_.push_back(i.s);
  }
}

std::string Converter::wan_name(const std::string& n) {
  std::string out = n.substr(0, 32);
  if (out != n)
    notes_.push_back(Note{.file = m_.file,
                          .why = "interface name '" + n + "' is longer than 32 characters; " +
                                 "the wan is named '" + out + "'"});
  return out;
}

void Converter::add_wan(Iface& i) {
  const Section& s = *i.s;
  WanOut w;
  w.name = wan_name(s.name);
  w.device = i.device;
  w.comments.push_back("interface '" + s.name + "' (" + m_.file + ":" + std::to_string(s.line) +
                       (i.v6 && !i.v4 ? ", family ipv6"
                        : i.v6        ? ", family ipv4+ipv6"
                                      : "") +
                       "), device from " + i.device_how);
  if (!i.device_known) {
    note(s, "", s.line,
         "its device is unknown (" + i.device_how + "); the wan's interface is '" + i.device +
             "', the netifd name: pass --network or edit it");
  }
  read_health(i, w);
  w.v4 = i.v4;
  w.v6 = i.v6;
  i.wan = w.name;
  wans_.push_back(std::move(w));
}

void Converter::join_pair(Iface& i, Iface& j) {
  WanOut* w = find_wan(j.wan);
  const Section& s = *i.s;
  w->comments.push_back("interface '" + s.name + "' (" + m_.file + ":" + std::to_string(s.line) +
                        ", family ipv6) joins it: same device");
  WanOut mine;
  read_health(i, mine, /*quiet=*/true);
  for (const auto& p : mine.probes) {
    if (std::find(w->probes.begin(), w->probes.end(), p) == w->probes.end())
      w->probes.push_back(p);
  }
  auto differs = [&](const char* opt_name, int64_t a, int64_t b) {
    if (a != b && s.find(opt_name))
      note(s, *s.find(opt_name),
           "the wan is shared with interface '" + j.s->name + "' (same device), which has " +
               std::to_string(b) + "; a wan has one health setting, " + std::to_string(b) +
               " is used");
  };
  differs("interval", mine.interval_s, w->interval_s);
  differs("timeout", mine.timeout_s, w->timeout_s);
  differs("down", mine.down, w->down);
  differs("up", mine.up, w->up);
  if (!mine.probes.empty() && !w->probes.empty()) {
    note(s, "", s.line,
         "merged with interface '" + j.s->name +
             "' (same device): pathsteer judges the uplink's health over the probes of both "
             "families together (reliability " +
             std::to_string(w->reliability) + " of " + std::to_string(w->probes.size()) +
             "), mwan3 each family on its own");
  }
  w->v6 = true;
  i.wan = j.wan;
}

WanOut* Converter::find_wan(const std::string& name) {
  for (auto& w : wans_) {
    if (w.name == name)
      return &w;
  }
  return nullptr;
}

const WanOut* Converter::find_wan_const(const std::string& name) const {
  for (const auto& w : wans_) {
    if (w.name == name)
      return &w;
  }
  return nullptr;
}

bool Converter::is_wan_device(const std::string& d) const {
  return std::any_of(wans_.begin(), wans_.end(), [&](const WanOut& w) { return w.device == d; });
}

void Converter::read_health(const Iface& i, WanOut& w, bool quiet) {
  const Section& s = *i.s;
  std::string method = lower(str(s, "track_method").value_or("ping"));
  const Option* track = s.find("track_ip");
  bool ssl = boolean(s, "httping_ssl", false);
  Probe base{.method = "icmp"};
  std::string why;
  if (method == "ping" || method == "nping-icmp") {
  } else if (method == "httping") {
    base = Probe{.method = "tcp", .port = ssl ? 443 : 80};
    why = "httping sends an HTTP request; pathsteer's tcp probe measures the connect to port " +
          std::to_string(base.port);
  } else if (method == "nping-tcp") {
    base = Probe{.method = "tcp", .port = 80};
    why = "nping-tcp's port is not configurable in mwan3; a tcp connect to port 80 is used";
  } else if (method == "arping") {
    why = "arping asks the gateway's ARP; pathsteer sends ICMP echo to each track_ip";
  } else {
    why = "track_method '" + method + "' has no pathsteer probe; ICMP echo is used";
  }
  if (!why.empty() && !quiet && track)
    note(s, *s.find("track_method"), why);
  if (track) {
    for (const auto& v : track->values) {
      auto a = IpAddr::parse(v.text);
      if (!a) {
        if (!quiet)
          note(s, "track_ip", v.line,
               "'" + flat(v.text) +
                   "' is not an IP address (pathsteer probes addresses, "
                   "not host names); not carried over");
        continue;
      }
      Probe p = base;
      p.target = a->to_string();
      if (std::find(w.probes.begin(), w.probes.end(), p) == w.probes.end())
        w.probes.push_back(p);
    }
  }
  w.interval_s = integer(s, "interval", 10, 1, 4294967);
  w.timeout_s = integer(s, "timeout", 4, 1, 4294967);
  w.down = integer(s, "down", 5, 1, 1000000);
  w.up = integer(s, "up", 5, 1, 1000000);
  w.reliability = integer(s, "reliability", 1, 1, 1000);
  int64_t count = integer(s, "count", 1, 1, 1000);
  if (quiet)
    return;
  // Without track_ip mwan3 ignores the probing options too: nothing to report.
  if (!w.probes.empty() && w.reliability > static_cast<int64_t>(w.probes.size())) {
    note(s, *s.find("reliability"),
         std::to_string(w.reliability) + " exceeds the " + std::to_string(w.probes.size()) +
             " usable track_ip(s): mwan3 could never see the interface up; " +
             std::to_string(w.probes.size()) + " is used");
    w.reliability = static_cast<int64_t>(w.probes.size());
  }
  if (w.probes.empty())
    return;
  if (count != 1) {
    note(s, *s.find("count"),
         "pathsteer sends one probe per target per round (mwan3 sends " + std::to_string(count) +
             " and needs one answer): a round may fail where mwan3's "
             "would pass");
  }
  for (const char* n : {"failure_interval", "recovery_interval"}) {
    if (const Option* o = s.find(n)) {
      auto v = to_int(o->values.back().text);
      if (!v || *v != w.interval_s)
        note(s, *o,
             "pathsteer probes at one interval (" + std::to_string(w.interval_s) +
                 " s) whatever the state; " + n + " " + flat(o->values.back().text) +
                 " s is not carried over");
    }
  }
  if (const Option* o = s.find("keep_failure_interval"); o && boolean(s, o->name, false))
    note(s, *o, "pathsteer probes at one interval whatever the state");
  if (const Option* o = s.find("size"); o && o->values.back().text != "56")
    note(s, *o, "pathsteer's ICMP probes have a fixed size; not carried over");
  if (const Option* o = s.find("max_ttl"); o && o->values.back().text != "60")
    note(s, *o, "pathsteer's probes use the system's default TTL; not carried over");
  if (const Option* o = s.find("initial_state"); o && lower(o->values.back().text) != "online")
    note(s, *o,
         "pathsteer starts every uplink unknown and brings it up at its first good round, "
         "not after 'up' rounds");
  w.quality = boolean(s, "check_quality", false);
  if (w.quality) {
    w.failure_latency = integer(s, "failure_latency", 1000, 1, 4294967295LL);
    w.failure_loss = integer(s, "failure_loss", 40, 0, 100);
    w.recovery_latency = integer(s, "recovery_latency", 500, 1, 4294967295LL);
    w.recovery_loss = integer(s, "recovery_loss", 10, 0, 100);
    if (w.recovery_latency > w.failure_latency) {
      note(s, *s.find("recovery_latency"),
           "above failure_latency; pathsteer needs the recovery bar at or below it: " +
               std::to_string(w.failure_latency) + " is used");
      w.recovery_latency = w.failure_latency;
    }
    if (w.recovery_loss > w.failure_loss) {
      note(s, *s.find("recovery_loss"),
           "above failure_loss; pathsteer needs the recovery bar at or below it: " +
               std::to_string(w.failure_loss) + " is used");
      w.recovery_loss = w.failure_loss;
    }
    note(s, *s.find("check_quality"),
         "a link over failure_latency/failure_loss becomes degraded in pathsteer (mwan3 takes "
         "it offline): failover and balance classes keep using a degraded uplink");
  }
}

}  // namespace pathsteer::mwan3::detail
