#include "model/match.h"
#include "model/probe.h"
#include "model/spelling.h"

namespace pathsteer {

const char* to_string(DatapathMode m) {
  return spelling(kDatapathModeNames, m);
}

const char* to_string(ProbeMethod m) {
  return spelling(kProbeMethodNames, m);
}

}  // namespace pathsteer
