# bpf_object(<name> <src.bpf.c> [headers...])
#
# Compiles <src.bpf.c> for the BPF target with clang, generates a libbpf
# skeleton with `bpftool gen skeleton` (the ELF is embedded in the header, so
# the binary never loads a .o from a runtime path) and exposes it as the
# INTERFACE library <name>_skel: link it and `#include "<name>.skel.h"`.
# Modelled on libbpf-bootstrap's tools/cmake/FindBpfObject.cmake.

find_program(BPF_CLANG NAMES clang clang-14 REQUIRED)
find_program(BPFTOOL NAMES bpftool PATHS /usr/sbin /usr/local/sbin REQUIRED)

execute_process(COMMAND uname -m OUTPUT_VARIABLE _bpf_uname_m OUTPUT_STRIP_TRAILING_WHITESPACE)
if(_bpf_uname_m STREQUAL "x86_64")
  set(BPF_TARGET_ARCH x86)
elseif(_bpf_uname_m MATCHES "aarch64|arm64")
  set(BPF_TARGET_ARCH arm64)
else()
  set(BPF_TARGET_ARCH ${_bpf_uname_m})
endif()
# The multiarch include dir supplies <asm/types.h> for the uapi headers.
execute_process(COMMAND ${CMAKE_C_COMPILER} -print-multiarch OUTPUT_VARIABLE _bpf_multiarch
                OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)

function(bpf_object name src)
  set(headers ${ARGN})
  get_filename_component(src_abs ${src} ABSOLUTE)
  get_filename_component(src_dir ${src_abs} DIRECTORY)
  set(obj ${CMAKE_CURRENT_BINARY_DIR}/${name}.bpf.o)
  set(skel ${CMAKE_CURRENT_BINARY_DIR}/${name}.skel.h)
  set(dep_headers)
  foreach(h ${headers})
    get_filename_component(h_abs ${h} ABSOLUTE)
    list(APPEND dep_headers ${h_abs})
  endforeach()
  add_custom_command(
    OUTPUT ${obj}
    COMMAND ${BPF_CLANG} -O2 -g -target bpf -D__TARGET_ARCH_${BPF_TARGET_ARCH}
            -Wall -Werror -I${src_dir} -I${CMAKE_SOURCE_DIR} -I${CMAKE_SOURCE_DIR}/bpf
            -idirafter /usr/include/${_bpf_multiarch}
            -c ${src_abs} -o ${obj}
    DEPENDS ${src_abs} ${dep_headers}
    COMMENT "BPF ${name}: clang -target bpf"
    VERBATIM)
  add_custom_command(
    OUTPUT ${skel}
    COMMAND ${BPFTOOL} gen skeleton ${obj} name ${name} > ${skel}
    DEPENDS ${obj}
    COMMENT "BPF ${name}: bpftool gen skeleton"
    VERBATIM)
  add_custom_target(${name}_skel_gen DEPENDS ${skel})
  add_library(${name}_skel INTERFACE)
  add_dependencies(${name}_skel ${name}_skel_gen)
  target_include_directories(${name}_skel INTERFACE ${CMAKE_CURRENT_BINARY_DIR})
  target_link_libraries(${name}_skel INTERFACE PkgConfig::LIBBPF)
endfunction()
