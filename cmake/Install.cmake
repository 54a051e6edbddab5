# install() rules and the CMake package: find_package(vkformer 0.1 REQUIRED) then link vkformer::vkformer.
include(CMakePackageConfigHelpers)

set(VKFORMER_PACKAGE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/vkformer)

install(TARGETS vkformer EXPORT vkformerTargets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/vkformer DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
# The MIT licence asks for its notice in every copy; the model directory below carries its own LICENSE.
install(FILES ${PROJECT_SOURCE_DIR}/LICENSE DESTINATION ${CMAKE_INSTALL_DOCDIR})
if(VKFORMER_BUILD_CLI)
  install(TARGETS vkformer_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()
# apps/model_path.hpp looks for it at ../share/vkformer/models/en-de from the binary. The held-out test set
# stays in the source tree.
install(DIRECTORY ${PROJECT_SOURCE_DIR}/models/en-de DESTINATION ${CMAKE_INSTALL_DATADIR}/vkformer/models
        PATTERN testset EXCLUDE)

install(EXPORT vkformerTargets NAMESPACE vkformer:: DESTINATION ${VKFORMER_PACKAGE_DIR})
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/vkformerConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/vkformerConfig.cmake
                              INSTALL_DESTINATION ${VKFORMER_PACKAGE_DIR}
                              PATH_VARS CMAKE_INSTALL_DATADIR)
# Before 1.0 a minor version may break the API: 0.1 accepts 0.1.x only.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/vkformerConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/vkformerConfig.cmake ${PROJECT_BINARY_DIR}/vkformerConfigVersion.cmake
        DESTINATION ${VKFORMER_PACKAGE_DIR})
