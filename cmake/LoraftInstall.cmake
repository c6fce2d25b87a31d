# `cmake --install` puts libloraft.a, the headers and loraftConfig.cmake under the prefix, so
# that other projects can `find_package(loraft)` and link `loraft::loraft`.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

install(DIRECTORY ${PROJECT_SOURCE_DIR}/lib/loraft DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
        FILES_MATCHING PATTERN "*.h")
install(TARGETS loraft loraft_options loraft_torch EXPORT loraftTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT loraftTargets NAMESPACE loraft::
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/loraft)
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/loraftConfig.cmake.in
  ${PROJECT_BINARY_DIR}/loraftConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/loraft)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/loraftConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/loraftConfig.cmake
              ${PROJECT_BINARY_DIR}/loraftConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/loraft)
