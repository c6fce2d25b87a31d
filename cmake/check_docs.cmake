# Runs Doxygen and fails if it warns (an undocumented public name, a broken reference).
get_filename_component(log_dir ${WARNINGS} DIRECTORY)
file(MAKE_DIRECTORY ${log_dir})  # Doxygen does not create the folder of its warning log
execute_process(COMMAND ${DOXYGEN} ${DOXYFILE} RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "doxygen failed (${rc})")
endif()
file(READ ${WARNINGS} warnings)
if(NOT warnings STREQUAL "")
  message(FATAL_ERROR "Doxygen warnings:\n${warnings}")
endif()
message(STATUS "docs: no Doxygen warnings")
