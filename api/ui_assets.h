// The dashboard's files (ui/, DESIGN §11), built into the binary: the page
// needs nothing from the file system or the network. Generated at build time
// by cmake/embed.cmake from ui/src/ and the pinned uPlot in ui/node_modules/.
#pragma once

#include <span>
#include <string_view>

namespace pathsteer {

struct UiAsset {
  std::string_view url;           // "/ui/", "/ui/app.js", ...
  std::string_view content_type;  // with charset for text
  std::string_view body;
};

// nullptr when there is no such file.
const UiAsset* find_ui_asset(std::string_view url);
std::span<const UiAsset> ui_assets();

}  // namespace pathsteer
