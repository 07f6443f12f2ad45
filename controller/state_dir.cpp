#include "controller/state_dir.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "common/file.h"
#include "common/log.h"
#include "controller/plan_memory.h"

namespace pathsteer {

namespace {

// A state file's text; nullopt if there is no such file (first start, or
// nothing saved) or it cannot be read (logged: planned as if it were absent).
std::optional<std::string> read_state_file(const std::string& path) {
  auto text = read_file(path);
  if (!text) {
    if (text.error().err_no != ENOENT)
      PS_LOG(kWarn) << text.error().to_string() << "; ignored";
    return std::nullopt;
  }
  return std::move(*text);
}

// What planner.json keeps of a memory (plan_memory.h): the runs are not saved.
PlannerMemory persisted_part(PlannerMemory m) {
  for (auto* section : {&m.classes, &m.overlays}) {
    for (auto& [name, c] : *section) {
      c.good_since.clear();
      c.better_since.clear();
    }
  }
  return m;
}

}  // namespace

StateDir::StateDir(std::string dir) : dir_(std::move(dir)) {
  if (::mkdir(dir_.c_str(), 0750) != 0 && errno != EEXIST) {
    failed(
        "dir",
        "state directory: " + system_error("creating state directory " + dir_, errno).to_string(),
        "; steering anyway, nothing will be persisted");
    return;
  }
  if (auto why = not_ours(); !why.empty()) {
    refused_ = true;
    failed("dir", "state directory " + dir_ + " refused: " + why,
           "; steering anyway, nothing will be read from it or persisted");
  }
}

// Whoever else can write the directory can plant intents, numbers or links
// for the daemon to follow: it must be ours alone (as systemd's
// StateDirectory= makes it).
std::string StateDir::not_ours() const {
  struct stat st {};
  if (::stat(dir_.c_str(), &st) != 0)
    return system_error("stat", errno).to_string();
  if (!S_ISDIR(st.st_mode))
    return "not a directory";
  if (st.st_uid != ::geteuid()) {
    return "owned by uid " + std::to_string(st.st_uid) + ", not by the daemon's uid " +
           std::to_string(::geteuid());
  }
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof(mode), "%04o", st.st_mode & 07777);
    return std::string("writable by group or others (mode ") + mode + ")";
  }
  return "";
}

void StateDir::failed(const std::string& key, const std::string& message, const char* log_note) {
  errors_[key] = message;
  PS_LOG(kError) << message << log_note;
}

std::vector<std::string> StateDir::errors() const {
  std::vector<std::string> out;
  for (const auto& [key, e] : errors_)
    out.push_back(e);
  return out;
}

Result<UplinkIds> StateDir::preview_numbers(const std::vector<std::string>& names, uint32_t max_id,
                                            uint32_t table_base) const {
  UplinkIds ids(max_id, table_base);
  if (!refused_)
    (void)ids.load(file("uplink-ids.json"));  // unreadable: numbered afresh
  if (auto r = ids.assign(names); !r)
    return r.take_error();
  return ids;
}

Result<UplinkIds> StateDir::number_uplinks(const std::vector<std::string>& names, uint32_t max_id,
                                           uint32_t table_base, bool first) {
  UplinkIds ids(max_id, table_base);
  const std::string path = file("uplink-ids.json");
  if (auto r = refused_ ? ok() : ids.load(path); !r) {
    // An unreadable state directory at start: number afresh and say so (a
    // corrupt file or a reload stays an error: renumbering would move marks).
    if (r.error().kind != ErrorKind::kSystem || !first)
      return r.take_error();
    failed("ids-read", "state directory: " + r.error().to_string(), "; numbering uplinks afresh");
  }
  if (auto r = ids.assign(names); !r)
    return r.take_error();
  if (refused_)
    return ids;
  if (auto r = ids.save(path); !r)
    failed("ids", "cannot persist uplink numbers: " + r.error().to_string());
  else
    cleared("ids");
  return ids;
}

IntentStore StateDir::load_intents() {
  IntentStore store(file("intents.json"));
  if (refused_)
    return store;
  if (auto r = store.load(); !r) {
    // Keep the evidence rather than overwrite it with the next save.
    std::string aside = store.path() + ".corrupt";
    std::rename(store.path().c_str(), aside.c_str());
    PS_LOG(kError) << r.error().to_string() << "; moved to " << aside
                   << ", starting without intents";
    store = IntentStore(file("intents.json"));
  }
  return store;
}

void StateDir::save_intents(const IntentStore& store) {
  if (refused_)
    return;
  if (auto r = store.save(); !r)
    failed("intents", "saving intents: " + r.error().to_string(),
           " (they apply, but a restart would lose them)");
  else
    cleared("intents");
}

Result<std::map<std::string, HealthState>> health_from_text(const std::string& text) {
  auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || !j.contains("version") || j["version"] != 1 ||
      !j.contains("uplinks") || !j["uplinks"].is_object()) {
    return policy_error("not a version 1 pathsteer health file");
  }
  std::map<std::string, HealthState> out;
  for (const auto& [name, v] : j["uplinks"].items()) {
    // What save_health() writes; anything else means the file is not ours.
    for (HealthState s : {HealthState::kUp, HealthState::kDegraded, HealthState::kDown}) {
      if (v.is_string() && v.get<std::string>() == to_string(s))
        out[name] = s;
    }
    if (!out.contains(name))
      return policy_error("uplink '" + name + "': not up, degraded or down");
  }
  return out;
}

std::map<std::string, HealthState> StateDir::load_health() const {
  const std::string path = file("health.json");
  auto text = refused_ ? std::nullopt : read_state_file(path);
  if (!text)
    return {};
  auto verdicts = health_from_text(*text);
  if (!verdicts) {
    PS_LOG(kWarn) << path << ": " << verdicts.error().to_string() << "; ignored";
    return {};
  }
  return *verdicts;
}

void StateDir::save_health(const std::map<std::string, HealthState>& verdicts) {
  if (refused_)
    return;
  nlohmann::json j;
  j["version"] = 1;
  j["uplinks"] = nlohmann::json::object();
  for (const auto& [path, state] : verdicts) {
    if (state != HealthState::kUnknown)
      j["uplinks"][path] = to_string(state);
  }
  if (auto r = write_file_atomic(file("health.json"), j.dump() + "\n", Durability::kFast); !r)
    failed("health", "cannot persist uplink health: " + r.error().to_string());
  else
    cleared("health");
}

std::optional<PlannerMemory> StateDir::load_plan_memory(PlanTime now, WallTime wall_now) {
  const std::string path = file("planner.json");
  auto text = refused_ ? std::nullopt : read_state_file(path);
  if (!text)
    return std::nullopt;
  auto m = plan_memory_from_text(*text, now, wall_now);
  if (!m) {
    PS_LOG(kWarn) << path << ": " << m.error().to_string()
                  << "; ignored (classes are planned as if for the first time)";
    return std::nullopt;
  }
  saved_plan_memory_ = persisted_part(*m);
  PS_LOG(kInfo) << "planner memory from " << path << ": " << m->classes.size() << " classes, "
                << m->overlays.size() << " overlays (hold-downs are waited out again)";
  return *m;
}

void StateDir::save_plan_memory(const PlannerMemory& memory, PlanTime now, WallTime wall_now) {
  if (refused_)
    return;
  PlannerMemory keep = persisted_part(memory);
  if (saved_plan_memory_ && *saved_plan_memory_ == keep)
    return;  // only switches change it, not every plan
  auto j = plan_memory_to_json(keep, now, wall_now);
  if (auto r = write_file_atomic(file("planner.json"), j.dump() + "\n", Durability::kFast); !r)
    failed("planner", "cannot persist planner memory: " + r.error().to_string());
  else
    cleared("planner");
  saved_plan_memory_ = std::move(keep);  // failed or not: tried again at the next change
}

void StateDir::load_history(History& history) const {
  const std::string path = file("history.json");
  auto text = refused_ ? std::nullopt : read_state_file(path);
  if (!text)
    return;
  auto j = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (auto r = history.minutes_from_json(j); !r)
    PS_LOG(kWarn) << path << ": " << r.error().to_string() << "; ignored";
}

void StateDir::save_history(const History& history) {
  if (refused_)
    return;
  auto text = history.minutes_to_json().dump() + "\n";
  if (auto r = write_file_atomic(file("history.json"), text, Durability::kFast); !r)
    failed("history", "cannot persist the uplinks' history: " + r.error().to_string());
  else
    cleared("history");
}

}  // namespace pathsteer
