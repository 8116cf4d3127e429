# lucent_report_assets(OUT_VAR)
# The evaluation report (src/lucent/metrics/report.h) is one HTML file that must open offline,
# so the binary carries Vega, Vega-Lite and vega-embed. Their minified builds come from the npm
# package in web/report (exact versions in package.json / package-lock.json, installed by
# `npm ci`, which scripts/setup.sh runs). At build time cmake/embed_report_assets.cmake turns
# them, the report's own script and stylesheet, and the licences into a generated C++ source;
# OUT_VAR receives its path.
set(LUCENT_REPORT_WEB_DIR ${CMAKE_CURRENT_LIST_DIR}/../web/report)
set(LUCENT_REPORT_EMBED_SCRIPT ${CMAKE_CURRENT_LIST_DIR}/embed_report_assets.cmake)

function(lucent_report_assets out_var)
  get_filename_component(web ${LUCENT_REPORT_WEB_DIR} ABSOLUTE)
  set(builds
    ${web}/node_modules/vega/build/vega.min.js
    ${web}/node_modules/vega-lite/build/vega-lite.min.js
    ${web}/node_modules/vega-embed/build/vega-embed.min.js)
  set(missing FALSE)
  foreach(f ${builds})
    if(NOT EXISTS ${f})
      set(missing TRUE)
    endif()
  endforeach()
  if(missing)
    # A fresh clone: install the pinned packages (the npm registry is the only source).
    find_program(LUCENT_NPM npm)
    if(NOT LUCENT_NPM)
      message(FATAL_ERROR "report assets: ${web}/node_modules is missing and npm was not found. "
                          "Run `bash scripts/setup.sh` (installs nodejs/npm and runs `npm ci` in web/report), "
                          "then configure again.")
    endif()
    message(STATUS "report assets: running `npm ci` in ${web}")
    execute_process(COMMAND ${LUCENT_NPM} ci --no-audit --no-fund
                    WORKING_DIRECTORY ${web} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
    if(NOT rc EQUAL 0)
      message(FATAL_ERROR "report assets: `npm ci` in ${web} failed (exit ${rc}):\n${err}\n"
                          "Run `bash scripts/setup.sh` and check that the npm registry is reachable.")
    endif()
  endif()
  set(out ${CMAKE_CURRENT_BINARY_DIR}/report_assets.cpp)
  add_custom_command(
    OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -DWEB_DIR=${web} -DOUT=${out} -P ${LUCENT_REPORT_EMBED_SCRIPT}
    DEPENDS ${builds} ${web}/package.json ${web}/package-lock.json ${web}/report.js ${web}/report.css
            ${web}/node_modules/vega/LICENSE ${web}/node_modules/vega-lite/LICENSE
            ${web}/node_modules/vega-embed/LICENSE ${LUCENT_REPORT_EMBED_SCRIPT}
    COMMENT "Embedding Vega, Vega-Lite and vega-embed into the report writer"
    VERBATIM)
  set(${out_var} ${out} PARENT_SCOPE)
endfunction()
