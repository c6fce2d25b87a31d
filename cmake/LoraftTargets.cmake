# Helpers that keep each directory's CMakeLists.txt to one line per target.

# Warnings and options every loraft target compiles with.
add_library(loraft_options INTERFACE)
# cxx_std_<N> travels with the installed loraft::loraft, so a user's project compiles loraft's
# headers with the standard that LibTorch demands (CMakeLists.txt chooses it).
target_compile_features(loraft_options INTERFACE cxx_std_${LORAFT_CXX_STANDARD})
target_compile_options(loraft_options INTERFACE -Wall -Wextra
  $<$<BOOL:${LORAFT_WERROR}>:-Werror>)
target_include_directories(loraft_options INTERFACE
  $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/lib>
  $<INSTALL_INTERFACE:include>)
# HDF5's compile definitions for every target: HDF5 2.x's CMake package asks for
# _FILE_OFFSET_BITS=64 and friends, which change what the C library's headers declare, so the
# components that link HDF5, those that do not, and both precompiled headers below must all
# see them (GCC ignores a PCH made without them: -Winvalid-pch, an error with WERROR).
set(loraft_hdf5_definitions ${HDF5_C_DEFINITIONS})
foreach(lib IN LISTS HDF5_C_LIBRARIES)
  if(TARGET ${lib})
    get_target_property(defs ${lib} INTERFACE_COMPILE_DEFINITIONS)
    if(defs)
      list(APPEND loraft_hdf5_definitions ${defs})
    endif()
  endif()
endforeach()
target_compile_definitions(loraft_options INTERFACE ${loraft_hdf5_definitions})

# LibTorch headers are included as system headers so that their warnings do not drown ours.
add_library(loraft_torch INTERFACE)
target_link_libraries(loraft_torch INTERFACE ${TORCH_LIBRARIES})
target_include_directories(loraft_torch SYSTEM INTERFACE ${TORCH_INCLUDE_DIRS})

# One precompiled <torch/torch.h> for the library's components (position-independent code,
# so that libloraft.a can go into shared objects) and one for programs (compiled as the
# compiler's default position-independent executables). GCC ignores a PCH made with other
# code-generation flags, hence two.
add_library(loraft_pch OBJECT ${PROJECT_SOURCE_DIR}/cmake/pch.cpp)
target_link_libraries(loraft_pch PUBLIC loraft_options loraft_torch)
target_precompile_headers(loraft_pch PRIVATE <torch/torch.h>)
add_library(loraft_pch_exe OBJECT ${PROJECT_SOURCE_DIR}/cmake/pch.cpp)
target_link_libraries(loraft_pch_exe PUBLIC loraft_options loraft_torch)
target_precompile_headers(loraft_pch_exe PRIVATE <torch/torch.h>)
set_target_properties(loraft_pch_exe PROPERTIES POSITION_INDEPENDENT_CODE OFF)

# loraft_program(<target>): what every executable target shares (tests, apps, benchmarks).
function(loraft_program target)
  target_link_libraries(${target} PRIVATE loraft_options loraft_torch)
  set_target_properties(${target} PROPERTIES POSITION_INDEPENDENT_CODE OFF)
  target_precompile_headers(${target} REUSE_FROM loraft_pch_exe)
endfunction()

# loraft_component(<name> [TORCH] [DEPS <component>...] [LIBS <target>...])
# Builds lib/loraft/<name>/*.cpp into the static library loraft_<name>. Components are the
# units the tests link; the installed library `loraft` is the union of all of them.
# TORCH components use the shared precompiled <torch/torch.h>: parsing it costs more than
# most of our translation units.
set(LORAFT_COMPONENTS "" CACHE INTERNAL "")
function(loraft_component name)
  cmake_parse_arguments(C "TORCH" "" "DEPS;LIBS" ${ARGN})
  file(GLOB srcs CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/loraft/${name}/*.cpp)
  file(GLOB hdrs CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/loraft/${name}/*.h)
  if(NOT srcs)
    return()  # a component with no sources yet: nothing to build or link
  endif()
  add_library(loraft_${name} OBJECT ${srcs} ${hdrs})
  target_link_libraries(loraft_${name} PUBLIC loraft_options ${C_LIBS})
  foreach(dep ${C_DEPS})
    target_link_libraries(loraft_${name} PUBLIC loraft_${dep})
  endforeach()
  if(C_TORCH)
    target_link_libraries(loraft_${name} PUBLIC loraft_torch)
    target_precompile_headers(loraft_${name} REUSE_FROM loraft_pch)
  endif()
  set(LORAFT_COMPONENTS ${LORAFT_COMPONENTS} ${name} CACHE INTERNAL "")
endfunction()

# loraft_have_components(<out> <component>...): TRUE when every component has sources yet.
function(loraft_have_components out)
  set(all TRUE)
  foreach(c ${ARGN})
    if(NOT TARGET loraft_${c})
      set(all FALSE)
    endif()
  endforeach()
  set(${out} ${all} PARENT_SCOPE)
endfunction()

# loraft_collect(<out> <component>...): the components and everything they depend on.
function(loraft_collect out)
  set(result "")
  set(todo ${ARGN})
  while(todo)
    list(POP_FRONT todo c)
    if(NOT c IN_LIST result)
      list(APPEND result ${c})
      get_target_property(links loraft_${c} INTERFACE_LINK_LIBRARIES)
      foreach(l ${links})
        if(l MATCHES "^loraft_(.+)$" AND TARGET ${l})
          get_target_property(type ${l} TYPE)
          if(type STREQUAL "OBJECT_LIBRARY")
            list(APPEND todo ${CMAKE_MATCH_1})
          endif()
        endif()
      endforeach()
    endif()
  endwhile()
  set(${out} ${result} PARENT_SCOPE)
endfunction()

# loraft_link_components(<target> <component>...): links the objects of the components and
# of everything they depend on (object libraries do not carry their objects transitively).
function(loraft_link_components target)
  loraft_collect(all ${ARGN})
  foreach(c ${all})
    target_link_libraries(${target} PRIVATE loraft_${c})
  endforeach()
endfunction()

# loraft_test(<area> COMPONENTS <component>...): tests/<area>/*.cpp become one GoogleTest
# program test_<area>, registered with CTest under the label <area>. Each program is one CTest
# entry (starting a LibTorch process costs most of a second, so one process per case would
# dominate `make test`). Cases named *Slow* run in a second entry labelled `slow`, so that
# `ctest -LE slow` skips them. An area with a cuda_test.cpp gets a third entry, <area>_cuda
# (label `cuda`), for its test suite `Cuda`: CTest reports it as skipped, naming the reason,
# where there is no CUDA device.
function(loraft_test area)
  cmake_parse_arguments(T "" "" "COMPONENTS" ${ARGN})
  file(GLOB srcs CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/${area}/*.cpp)
  loraft_have_components(have ${T_COMPONENTS})
  if(NOT srcs OR NOT have)
    return()
  endif()
  add_executable(test_${area} ${srcs})
  loraft_link_components(test_${area} ${T_COMPONENTS})
  target_link_libraries(test_${area} PRIVATE loraft_test_support GTest::gtest_main)
  loraft_program(test_${area})
  add_test(NAME ${area} COMMAND test_${area} --gtest_filter=-*Slow*:*/*Slow*:Cuda.*
           WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
  # CTest runs programs in parallel (`ctest -j`): one LibTorch thread each keeps OpenMP
  # from oversubscribing the cores, which costs far more than it gains on small tests.
  set_tests_properties(${area} PROPERTIES LABELS ${area}
                       ENVIRONMENT "LORAFT_NUM_THREADS=1;OMP_NUM_THREADS=1")
  add_test(NAME ${area}_slow COMMAND test_${area} --gtest_filter=*Slow*
           WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
  set_tests_properties(${area}_slow PROPERTIES LABELS "${area};slow"
                       ENVIRONMENT "LORAFT_NUM_THREADS=1;OMP_NUM_THREADS=1")
  if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/${area}/cuda_test.cpp)
    add_test(NAME ${area}_cuda COMMAND test_${area} --gtest_filter=Cuda.*
             WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
    # CUBLAS_WORKSPACE_CONFIG: cuBLAS is deterministic only with a fixed workspace (CUDA docs,
    # "Results reproducibility"), which the bitwise resume test needs.
    set_tests_properties(${area}_cuda PROPERTIES LABELS "${area};cuda"
                         SKIP_REGULAR_EXPRESSION "no CUDA device"
                         ENVIRONMENT "LORAFT_NUM_THREADS=1;OMP_NUM_THREADS=1;CUBLAS_WORKSPACE_CONFIG=:4096:8")
  endif()
endfunction()

# loraft_app(<name> COMPONENTS <component>...): apps/<name>.cpp becomes the program <name>.
function(loraft_app name)
  cmake_parse_arguments(A "" "" "COMPONENTS" ${ARGN})
  loraft_have_components(have ${A_COMPONENTS})
  if(NOT EXISTS ${PROJECT_SOURCE_DIR}/apps/${name}.cpp OR NOT have)
    return()
  endif()
  add_executable(${name} ${PROJECT_SOURCE_DIR}/apps/${name}.cpp)
  loraft_link_components(${name} ${A_COMPONENTS})
  target_link_libraries(${name} PRIVATE loraft_app_support)
  loraft_program(${name})
  install(TARGETS ${name} RUNTIME DESTINATION bin)
endfunction()
