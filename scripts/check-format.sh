#!/usr/bin/env bash
# Fails if any C/C++ source in the tree is not clang-formatted (the nearest
# .clang-format applies: Google-based for C++, kernel style in bpf/kern/).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  mapfile -t files < <(git ls-files -co --exclude-standard '*.c' '*.h' '*.cpp')
else
  mapfile -t files < <(find . -path ./build\* -prune -o \( -name '*.c' -o -name '*.h' -o -name '*.cpp' \) -print)
fi
clang-format --dry-run -Werror "${files[@]}"
echo "clang-format: ${#files[@]} files clean"
