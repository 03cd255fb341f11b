# Included after ament_package() by every package of ros_ws/src. The PyPI wheels export *rosidl_generator_py targets whose INTERFACE_INCLUDE_DIRECTORIES
# name paths of the wheel build machine. CMake refuses non-existent include directories on
# imported targets at generate time, so keep only the entries that exist here.
get_property(_imported DIRECTORY PROPERTY IMPORTED_TARGETS)
foreach(_dir_target IN LISTS _imported)
  get_target_property(_incs ${_dir_target} INTERFACE_INCLUDE_DIRECTORIES)
  if(_incs)
    set(_kept "")
    foreach(_inc IN LISTS _incs)
      if(_inc MATCHES "^\\$<" OR EXISTS "${_inc}")
        list(APPEND _kept "${_inc}")
      endif()
    endforeach()
    set_target_properties(${_dir_target} PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${_kept}")
  endif()
endforeach()
