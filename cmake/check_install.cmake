# Installs loraft into a scratch prefix, then configures, builds and runs examples/classify
# against it: proves that loraftConfig.cmake and the installed headers work out of tree.
set(prefix ${BINARY_DIR}/install-check/prefix)
set(build ${BINARY_DIR}/install-check/build)
file(REMOVE_RECURSE ${prefix} ${build})
execute_process(COMMAND ${CMAKE_COMMAND} --install ${BINARY_DIR} --prefix ${prefix}
                RESULT_VARIABLE rc OUTPUT_QUIET)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "cmake --install failed (${rc})")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} -S ${SOURCE_DIR}/examples/classify -B ${build} -G Ninja
                        -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_BUILD_TYPE=Release
                RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "configuring the example against the installed loraft failed")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} --build ${build} RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "building the example failed")
endif()
execute_process(COMMAND ${build}/classify ${SOURCE_DIR}/tests/fixtures/distilbert-tiny
                        ${SOURCE_DIR}/tests/fixtures/lora/adapter
                RESULT_VARIABLE rc OUTPUT_VARIABLE out)
message(STATUS "${out}")
if(NOT rc EQUAL 0 OR NOT out MATCHES "trainable params: 2,212")
  message(FATAL_ERROR "the example did not run as expected (${rc})")
endif()
