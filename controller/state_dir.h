// The state directory (<state-dir>, default /var/lib/pathsteer): what a
// restarted daemon needs so that nothing is lost on restart (DESIGN §6).
//
//   uplink-ids.json  stable uplink numbers (marks, tables, rule priorities)
//   intents.json     the intents in force, with wall-clock expiry
//   health.json      each probed path's last verdict (up/degraded/down)
//   planner.json     each class's and overlay's choice, since when, last switch
//   history.json     each uplink's last 24 h at 1 min (written once a minute)
//   fleet.json       a fleet node's last applied fleet policy and intents
//                    (written and read by fleet/agent.h, not by this class)
//
// Every file is replaced atomically (common/file.h): uplink ids and intents
// fsynced (a lost write would change what a restart does), health and planner
// memory not (written from the event loop on every change; a lost last write
// only means a restart plans with an older view until the probes answer).
//
// Steering never needs the directory: a failure to create, read or write it is
// kept here, by file, until that file is written again (errors(), shown in the
// status), and logged. A corrupt intents file is moved aside to
// intents.json.corrupt rather than overwritten by the next save. A corrupt
// uplink-ids file is an error the caller must not paper over (renumbering
// would move marks), except at first start when the directory is unreadable.
//
// The directory must be ours alone: owned by the effective uid and not
// writable by group or others. One that is not is refused (a state error
// naming the owner or mode, kept for the daemon's life): nothing is read from
// it or written to it, as if it were empty and unwritable; steering goes on.
// Threading: the loop thread only.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "controller/history.h"
#include "controller/intents.h"
#include "controller/planner.h"
#include "controller/uplink_ids.h"
#include "probes/health.h"

namespace pathsteer {

// health.json's text: {"version":1,"uplinks":{"wan1":"up",...}}. Anything
// else, or a state other than up, degraded or down, is an error.
Result<std::map<std::string, HealthState>> health_from_text(const std::string& text);

class StateDir {
 public:
  using WallTime = std::chrono::system_clock::time_point;

  // Creates the directory (0750) if it is missing, then checks that it is ours.
  explicit StateDir(std::string dir);

  const std::string& dir() const { return dir_; }
  std::string file(const char* name) const { return dir_ + "/" + name; }

  // Numbers `names` keeping the persisted numbers, and saves them. `first`:
  // at start, when an unreadable directory means numbering afresh.
  Result<UplinkIds> number_uplinks(const std::vector<std::string>& names, uint32_t max_id,
                                   uint32_t table_base, bool first);
  // The same numbering without saving anything (a dry run).
  Result<UplinkIds> preview_numbers(const std::vector<std::string>& names, uint32_t max_id,
                                    uint32_t table_base) const;

  IntentStore load_intents();
  void save_intents(const IntentStore& store);

  // Verdicts by path name; nothing, or a file health_from_text() refuses
  // (logged), gives {}.
  std::map<std::string, HealthState> load_health() const;
  void save_health(const std::map<std::string, HealthState>& verdicts);

  // history.json: the 24 h minute ring of every uplink (controller/history.h);
  // a file that is not ours is ignored with a warning.
  void load_history(History& history) const;
  void save_history(const History& history);

  // The persisted part only (plan_memory.h): choices and times, not the runs.
  // A file plan_memory_from_text() refuses is logged and ignored (nullopt).
  std::optional<PlannerMemory> load_plan_memory(PlanTime now, WallTime wall_now);
  // Writes only when the persisted part changed since the last save or load.
  void save_plan_memory(const PlannerMemory& memory, PlanTime now, WallTime wall_now);

  // One line per file that failed and was not written since.
  std::vector<std::string> errors() const;

 private:
  // Keeps `message` for the status and logs it with `log_note` appended.
  void failed(const std::string& key, const std::string& message, const char* log_note = "");
  void cleared(const std::string& key) { errors_.erase(key); }
  // Why the directory is not ours alone ("" if it is).
  std::string not_ours() const;

  std::string dir_;
  bool refused_ = false;                       // not ours alone: never read or written
  std::map<std::string, std::string> errors_;  // by file key
  std::optional<PlannerMemory> saved_plan_memory_;
};

}  // namespace pathsteer
