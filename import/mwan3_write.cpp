// The policy-wide choices mwan3 makes per policy or interface and pathsteer once
// (last_resort, conntrack flushing, the mark mask), and the YAML writer
// (import/mwan3_converter.h).
#include <cstdio>
#include <map>
#include <set>
#include <sstream>
#include <string>

#include "import/mwan3_converter.h"

namespace pathsteer::mwan3::detail {

// ---- policy-wide choices ----
void Converter::choose_last_resort() {
  std::map<std::string, int> votes;
  for (const Shape* sh : used_shapes_)
    votes[sh->last_resort]++;
  for (const auto& c : classes_) {
    if (!c.commented && (c.action == "unreachable" || c.action == "blackhole"))
      votes[c.action]++;
  }
  if (votes.empty()) {
    last_resort_ = "unreachable";
    return;
  }
  std::string best = votes.begin()->first;
  for (const auto& [v, n] : votes) {
    if (n > votes[best] || (n == votes[best] && v == "unreachable"))
      best = v;
  }
  last_resort_ = best;
  for (auto& c : classes_) {
    if (c.commented || c.action.empty() || c.action == "main" || c.action == best)
      continue;
    note(*c.rule, *c.use_policy,
         "a pathsteer class may send its traffic to the main table or to the policy's one "
         "last_resort (" +
             to_pathsteer(best) + "), not to " + c.action +
             "; the rule is written as a comment and its traffic falls to the next class that "
             "matches");
    c.commented = true;
    c.comments.push_back("NOT CONVERTED: use_policy " + c.action + " (last_resort is " +
                         to_pathsteer(best) + ")");
  }
  std::set<const Shape*> done;
  for (const Shape* sh : used_shapes_) {
    if (sh->last_resort == best || !done.insert(sh).second)
      continue;
    note(*sh->s, "last_resort", sh->last_resort_line ? sh->last_resort_line : sh->s->line,
         "pathsteer has one last_resort for every class; " + to_pathsteer(best) + " (mwan3 " +
             best + ", as most policies in use) is used instead of " + sh->last_resort);
  }
}

std::string Converter::to_pathsteer(const std::string& lr) {
  return lr == "default" ? "main" : lr;
}

void Converter::choose_conntrack() {
  int want = 0, total = 0;
  std::vector<std::pair<const Section*, bool>> each;
  for (const auto& i : ifaces_) {
    if (!i.enabled)
      continue;
    bool flush = false;
    if (const Option* o = i.s->find("flush_conntrack")) {
      for (const auto& v : o->values) {
        for (const auto& w : split(v.text, " ,")) {
          std::string x = lower(w);
          if (x == "ifdown" || x == "disconnected") {
            flush = true;
          } else if (x == "never") {
          } else {
            note(*i.s, "flush_conntrack", v.line,
                 "'" + flat(x) + "': pathsteer flushes only when an uplink goes down");
          }
        }
      }
    }
    each.emplace_back(i.s, flush);
    want += flush;
    ++total;
  }
  flush_ = total > 0 && want * 2 > total;
  for (const auto& [s, f] : each) {
    if (f != flush_)
      note(*s, "flush_conntrack",
           s->find("flush_conntrack") ? s->find("flush_conntrack")->line : s->line,
           std::string("pathsteer flushes conntrack on down for every uplink or none; ") +
               (flush_ ? "all (most interfaces flush)" : "none (most interfaces do not)") +
               " is used");
  }
}

// A free 8-bit run for pathsteer's marks, clear of mwan3's.
uint32_t Converter::mark_mask() const {
  for (uint32_t m :
       {0x0ff00000u, 0xff000000u, 0x00ff0000u, 0x000ff000u, 0xf0000000u, 0x000000ffu}) {
    if ((m & mmx_mask_) == 0)
      return m;
  }
  return 0x0ff00000u;
}

// ---- writing ----
std::string Converter::hex(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "0x%08x", v);
  return buf;
}

std::string Converter::write() {
  std::ostringstream y;
  y << "# Converted from " << m_.file << " by `pathsteer import mwan3`"
    << (net_ ? " (network: " + net_->file + ")" : std::string(" (no network file)")) << ".\n";
  if (mwan4_)
    y << "# mwan4 names: route = member, strategy = policy.\n";
  y << "# Every option not carried over exactly was reported on stderr; see docs/MIGRATING.md.\n";
  y << "version: 1\n";
  y << "# " << flat(lan_comment_) << "\n";
  for (const auto& e : lan_extra_)
    y << "# " << flat(e) << "\n";
  y << "lan_interfaces: [";
  for (size_t i = 0; i < lan_.size(); ++i)
    y << (i ? ", " : "") << scalar(lan_[i]);
  y << "]\n";
  y << "# mwan3 keeps its marks in mmx_mask " << hex(mmx_mask_)
    << (mmx_line_ ? " (globals, line " + std::to_string(mmx_line_) + ")"
                  : std::string(" (default)"))
    << ", its ip rules at\n# priorities 1001-3254 and its routing tables from 1: pathsteer's "
       "slice "
       "stays clear\n# of all three, so both can run side by side during the move.\n";
  y << "ownership:\n";
  y << "  mark_mask: " << hex(mark_mask()) << "\n";
  y << "  rule_priority_base: 10000\n";
  y << "  table_base: 200\n";
  y << "  route_protocol: 201\n";
  y << "last_resort: " << to_pathsteer(last_resort_) << "  # mwan3 policies' last_resort "
    << last_resort_ << "\n";
  y << "conntrack: { flush_on_down: " << (flush_ ? "true" : "false")
    << " }  # flush_conntrack ifdown: " << (flush_ ? "yes" : "no") << "\n";
  y << "\nwans:\n";
  if (wans_.empty())
    y << "  {}  # no enabled interface\n";
  for (const auto& w : wans_) {
    for (const auto& c : w.comments)
      y << "  # " << flat(c) << "\n";
    y << "  " << w.name << ":\n";
    y << "    interface: " << scalar(w.device) << "\n";
    y << "    gateway: auto\n";
    if (w.weight)
      y << "    weight: " << *w.weight << "  # member '" << w.weight_from << "'\n";
    if (w.probes.empty()) {
      y << "    probes: []  # no track_ip: up while the link is (carrier), as in mwan3\n";
      continue;
    }
    y << "    probes:  # track_ip\n";
    for (const auto& p : w.probes) {
      y << "      - { method: " << p.method << ", target: " << scalar(p.target);
      if (p.port)
        y << ", port: " << p.port;
      y << " }\n";
    }
    y << "    health:\n";
    y << "      interval_ms: " << w.interval_s * 1000 << "  # interval " << w.interval_s << " s\n";
    y << "      timeout_ms: " << w.timeout_s * 1000 << "  # timeout " << w.timeout_s << " s\n";
    y << "      down_after: " << w.down << "  # down\n";
    y << "      up_after: " << w.up << "  # up\n";
    y << "      reliability: " << w.reliability << "\n";
    if (w.quality) {
      y << "      degraded_if: { rtt_ms: " << w.failure_latency << ", loss_pct: " << w.failure_loss
        << " }  # failure_latency, failure_loss\n";
      y << "      recover_if: { rtt_ms: " << w.recovery_latency << ", loss_pct: " << w.recovery_loss
        << " }  # recovery_latency, recovery_loss\n";
    }
  }
  for (const Section* s : disabled_)
    y << "  # interface '" << s->name << "' (" << m_.file << ":" << s->line
      << ") is not enabled: mwan3 does not use it\n";
  y << "\nclasses:  # mwan3 rules, first match wins, in file order\n";
  bool any = false;
  for (const auto& c : classes_) {
    std::string p = c.commented ? "  # " : "  ";
    for (const auto& line : c.comments)
      y << "  # " << flat(line) << "\n";
    y << p << c.name << ":\n";
    if (!c.match.empty()) {
      y << p << "  match:\n";
      for (const auto& m : c.match)
        y << p << "    - " << m << "\n";
    }
    if (!c.action.empty())
      y << p << "  action: " << c.action << "\n";
    if (!c.strategy.empty()) {
      y << p << "  strategy: " << c.strategy << "\n";
      y << p << "  paths: " << c.paths << "\n";
    }
    if (c.affinity_s)
      y << p << "  source_affinity_s: " << c.affinity_s << "  # sticky, timeout\n";
    any = any || !c.commented;
  }
  if (!any)
    y << "  {}  # no rule could be converted\n";
  return y.str();
}

}  // namespace pathsteer::mwan3::detail
