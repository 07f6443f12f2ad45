// Stable uplink numbers. An uplink's number n (1..max) fixes its mark value
// (n shifted into ownership.mark_mask), its table (table_base + n) and its rule
// priorities, so it must never change because the policy file was reordered or
// another uplink was added: numbers are assigned once, by name, and persisted
// in the state directory (uplink-ids.json, written atomically: temp + rename).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/result.h"

namespace pathsteer {

class UplinkIds {
 public:
  // `max_id` is the largest usable number (the mark field's capacity minus the
  // value reserved for last_resort). Numbers whose table (table_base + n)
  // would be one of the kernel's own (0, 253 default, 254 main, 255 local)
  // are never given out.
  explicit UplinkIds(uint32_t max_id, uint32_t table_base = 0)
      : max_id_(max_id), table_base_(table_base) {}

  // Pure: keeps known names' numbers, gives new names the lowest free number,
  // forgets names no longer present. Error if there are more names than numbers.
  Result<void> assign(const std::vector<std::string>& names);
  const std::map<std::string, uint32_t>& ids() const { return ids_; }

  // JSON {"version":1,"uplinks":{"wan1":1,...}}. A missing file is an empty set;
  // a corrupt one is an error naming the file.
  Result<void> load(const std::string& path);
  // load() of a file's text, errors naming `origin`. Corrupt (kUnrealizable,
  // the set unchanged): not that shape, a number that is not an integer in
  // 1..max_id or would be a kernel table, a number given to two uplinks.
  Result<void> parse(const std::string& text, const std::string& origin);
  Result<void> save(const std::string& path) const;

 private:
  bool usable(uint32_t n) const;

  uint32_t max_id_;
  uint32_t table_base_;
  std::map<std::string, uint32_t> ids_;
};

}  // namespace pathsteer
