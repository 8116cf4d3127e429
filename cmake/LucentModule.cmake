# lucent_module(NAME SOURCES ... [DEPS ...] [PRIVATE_DEPS ...] [PCH header])
# Declares library target lucent_<NAME> with alias lucent::<NAME>. DEPS are public (appear in
# public headers); PRIVATE_DEPS stay inside the .cpp files (ITK, DCMTK, OpenJPEG).
function(lucent_module name)
  cmake_parse_arguments(M "" "PCH" "SOURCES;DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(lucent_${name} STATIC ${M_SOURCES})
  add_library(lucent::${name} ALIAS lucent_${name})
  target_include_directories(lucent_${name} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(lucent_${name} PUBLIC ${M_DEPS} PRIVATE ${M_PRIVATE_DEPS})
  target_compile_options(lucent_${name} PRIVATE -Wall -Wextra -Wno-unused-parameter -Wno-restrict)
  if(M_PCH)
    target_precompile_headers(lucent_${name} PRIVATE ${M_PCH})
  endif()
endfunction()
