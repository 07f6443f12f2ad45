// The inside of the mwan3 converter (import/mwan3.h has the interface and the
// mapping): one Converter per convert() call, its steps defined by
// responsibility across
//   mwan3.cpp          run() and convert(), Note::to_string()
//   mwan3_options.cpp  text helpers, notes, option readers, sections, globals,
//                      the network package (devices), lan_interfaces
//   mwan3_wans.cpp     interfaces -> wans, IPv6 pairs, health
//   mwan3_classes.cpp  members, policies -> strategies, rules -> classes
//   mwan3_write.cpp    policy-wide choices (last_resort, conntrack, marks), the YAML
// Internal to import/: nothing outside the converter includes it.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/net.h"
#include "import/mwan3.h"
#include "import/uci.h"

namespace pathsteer::mwan3::detail {

using uci::Option;
using uci::Package;
using uci::Section;

// ---- text helpers (mwan3_options.cpp) ----
std::string lower(std::string s);
std::optional<int64_t> to_int(std::string_view s, int base = 10);
std::vector<std::string> split(std::string_view s, std::string_view seps);
// A YAML scalar: plain when it is obviously safe, double-quoted otherwise.
std::string scalar(const std::string& s);
// A comment's text on one line.
std::string flat(std::string s);

struct Iface {
  const Section* s = nullptr;
  bool enabled = false;
  bool v4 = true, v6 = false;  // family
  std::string device;
  bool device_known = false;
  std::string device_how;  // for the comment
  std::string wan;         // the wan it became ("" if disabled)
};

struct Probe {
  std::string method;
  std::string target;
  int port = 0;
  bool operator==(const Probe&) const = default;
};

struct WanOut {
  std::string name;
  std::string device;
  std::vector<std::string> comments;
  std::vector<Probe> probes;
  int64_t interval_s = 10, timeout_s = 4, down = 5, up = 5, reliability = 1;
  bool quality = false;
  int64_t failure_latency = 1000, failure_loss = 40, recovery_latency = 500, recovery_loss = 10;
  std::optional<int64_t> weight;
  std::string weight_from;      // member that set it
  bool v4 = false, v6 = false;  // the families mwan3 carries over it
};

struct MemberOut {
  const Section* s = nullptr;
  std::string iface;
  int64_t metric = 1, weight = 1;
  int metric_line = 0, weight_line = 0;
};

// A policy as a strategy: tiers of wan names in metric order.
struct Shape {
  const Section* s = nullptr;
  std::vector<std::vector<std::string>> tiers;
  std::string last_resort = "unreachable";
  int last_resort_line = 0;
  bool balanced() const {
    return std::any_of(tiers.begin(), tiers.end(), [](const auto& t) { return t.size() > 1; });
  }
};

// A rule as a class.
struct ClassOut {
  std::string name;
  std::vector<std::string> comments;
  std::vector<std::string> match;  // flow maps
  std::string strategy;
  std::string paths;
  uint32_t affinity_s = 0;
  std::string action;  // main / unreachable / blackhole: use_policy default/unreachable/blackhole
  const Section* rule = nullptr;
  const Option* use_policy = nullptr;
  bool commented = false;  // written as a comment: not expressible
};

class Converter {
 public:
  Converter(const Package& m, const Package* net) : m_(m), net_(net) {}

  Conversion run();  // mwan3.cpp

 private:
  // ---- notes and option readers (mwan3_options.cpp) ----
  void note(const Section& s, const std::string& option, int line, std::string why);
  void note(const Section& s, const Option& o, std::string why);
  static std::string written_name(const Section& s, const std::string& canonical);
  const Option* opt(const Section& s, const std::string& name) const;
  std::optional<std::string> str(const Section& s, const std::string& name) const;
  int64_t integer(const Section& s, const std::string& name, int64_t def, int64_t lo, int64_t hi);
  bool boolean(const Section& s, const std::string& name, bool def);
  void unknown_options(const Section& s, const std::set<std::string>& known);
  void read_family(const Section& s, bool& v4, bool& v6);

  // ---- sections, globals, the network package, lan (mwan3_options.cpp) ----
  void classify_sections();
  void read_globals();
  const Section* net_iface(const std::string& name) const;
  static std::optional<std::string> net_opt(const Section& s, const std::string& name);
  std::optional<std::string> device_of(const std::string& name, std::string& how,
                                       int depth = 0) const;
  void read_lan();

  // ---- interfaces -> wans (mwan3_wans.cpp) ----
  void read_interfaces();
  std::string wan_name(const std::string& n);
  void add_wan(Iface& i);
  void join_pair(Iface& i, Iface& j);
  WanOut* find_wan(const std::string& name);
  const WanOut* find_wan_const(const std::string& name) const;
  bool is_wan_device(const std::string& d) const;
  void read_health(const Iface& i, WanOut& w, bool quiet = false);

  // ---- members and policies (mwan3_classes.cpp) ----
  void read_members();
  const Iface* iface(const std::string& name) const;
  void read_policies();
  void set_weight(const std::string& wan, const MemberOut& m);

  // ---- rules -> classes (mwan3_classes.cpp) ----
  std::string class_name(const Section& s, size_t index);
  std::optional<std::string> ports(const Section& s, const Option& o);
  std::optional<std::vector<Prefix>> prefixes(const Section& s, const Option& o);
  static std::string prefix_list(const std::vector<Prefix>& ps);
  void read_rules();
  static bool has(const std::vector<Prefix>& src, const std::vector<Prefix>& dst, int family);
  void check_families(const Section& s, const Option& po, const Shape& sh, bool v4, bool v6);
  static std::string describe(const Shape& sh);
  static std::string list(const std::vector<std::string>& names);
  static void strategy_of(const Shape& sh, ClassOut& c);

  // ---- policy-wide choices, writing (mwan3_write.cpp) ----
  void choose_last_resort();
  static std::string to_pathsteer(const std::string& lr);
  void choose_conntrack();
  uint32_t mark_mask() const;
  static std::string hex(uint32_t v);
  std::string write();

  const Package& m_;
  const Package* net_;
  std::vector<Note> notes_;
  bool mwan4_ = false;
  std::vector<const Section*> globals_, member_secs_, policy_secs_, rule_secs_, disabled_;
  std::vector<Iface> ifaces_;
  std::vector<WanOut> wans_;
  std::map<std::string, MemberOut> members_;
  std::map<std::string, Shape> shapes_;
  std::vector<const Shape*> used_shapes_;
  std::vector<ClassOut> classes_;
  std::set<std::string> used_names_;
  std::optional<std::string> catch_all_;  // the first rule that matches everything
  std::vector<std::string> lan_;
  std::string lan_comment_;
  std::vector<std::string> lan_extra_;
  uint32_t mmx_mask_ = 0x3f00;
  int mmx_line_ = 0;
  std::string last_resort_ = "unreachable";
  bool flush_ = false;
};

}  // namespace pathsteer::mwan3::detail
