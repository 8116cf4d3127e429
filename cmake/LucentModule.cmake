# lucent_module(NAME SOURCES ... [DEPS ...] [PRIVATE_DEPS ...] [PCH header])
# Declares library target lucent_<NAME> with alias lucent::<NAME>. DEPS are public (appear in
# public headers); PRIVATE_DEPS stay inside the .cpp files (ITK, DCMTK, OpenJPEG).
# PCH: every module naming the same header shares one precompiled file (lucent_shared_pch; a
# <torch/torch.h> PCH is ~600 MB, an <ATen/ATen.h> one ~280 MB: one per module filled a CI disk).
function(lucent_module name)
  cmake_parse_arguments(M "" "PCH" "SOURCES;DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(lucent_${name} STATIC ${M_SOURCES})
  add_library(lucent::${name} ALIAS lucent_${name})
  target_include_directories(lucent_${name} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(lucent_${name} PUBLIC ${M_DEPS} PRIVATE ${M_PRIVATE_DEPS})
  target_compile_options(lucent_${name} PRIVATE -Wall -Wextra -Wno-unused-parameter -Wno-restrict)
  if(M_PCH)
    lucent_shared_pch(lucent_${name} HEADERS ${M_PCH} LINK lucent_torch)
  endif()
endfunction()

# lucent_shared_pch(TARGET HEADERS header... LINK dep... [OPTIONS flag...]): TARGET reuses
# (REUSE_FROM) the one PCH of that header list, built by an object library lucent_pch_<headers>
# that links only LINK (the lowest common set of definitions: GCC rejects a PCH built with a macro
# the user lacks, e.g. spdlog's SPDLOG_FMT_EXTERNAL; -Winvalid-pch, which CMake adds, warns if one
# is ever not used). OPTIONS (e.g. an -O level) go to the PCH and to TARGET alike, as GCC requires.
function(lucent_shared_pch target)
  cmake_parse_arguments(P "" "" "HEADERS;LINK;OPTIONS" ${ARGN})
  string(MAKE_C_IDENTIFIER "${P_HEADERS} ${P_OPTIONS}" key)
  set(owner lucent_pch_${key})
  if(NOT TARGET ${owner})
    set(stub ${PROJECT_BINARY_DIR}/pch/${key}.cpp)
    if(NOT EXISTS ${stub})
      file(WRITE ${stub} "// Compiled only to build the shared precompiled header (cmake/LucentModule.cmake).\n")
    endif()
    add_library(${owner} OBJECT ${stub})
    target_link_libraries(${owner} PRIVATE ${P_LINK})
    target_precompile_headers(${owner} PRIVATE ${P_HEADERS})
    target_compile_options(${owner} PRIVATE ${P_OPTIONS})
  endif()
  target_compile_options(${target} PRIVATE ${P_OPTIONS})
  target_precompile_headers(${target} REUSE_FROM ${owner})
endfunction()
