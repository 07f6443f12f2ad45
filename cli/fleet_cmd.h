// `pathsteer fleet status | put-policy | intent` (DESIGN §13): etcd directly,
// with the fleet's client library. Exit 0, 1 (etcd or the input refused), 2 (usage).
#pragma once

#include <cstdio>
#include <string>
#include <vector>

namespace pathsteer {

int cmd_fleet(const std::vector<std::string>& args);
void fleet_usage(FILE* out);

}  // namespace pathsteer
