# Runs at install time (`cmake --install`, CPack): the unit names the installed
# binary and policy, whose paths follow the install prefix (for /usr the policy
# is in /etc, otherwise in <prefix>/etc, as GNUInstallDirs puts them).
# file(INSTALL) prefixes $DESTDIR itself. Set before this script: PS_SOURCE_DIR, PS_BINARY_DIR, PS_SBINDIR_REL, PS_DOCDIR_REL.
set(prefix "${CMAKE_INSTALL_PREFIX}")
if(prefix STREQUAL "/usr")
  set(etc "/etc")
else()
  set(etc "${prefix}/etc")
endif()
set(PS_SBINDIR "${prefix}/${PS_SBINDIR_REL}")
set(PS_DOCDIR "${prefix}/${PS_DOCDIR_REL}")
set(PS_ETCDIR "${etc}/pathsteer")
set(PS_POLICY "${PS_ETCDIR}/policy.yaml")
configure_file("${PS_SOURCE_DIR}/pathsteerd.service.in" "${PS_BINARY_DIR}/pathsteerd.service"
  @ONLY)
file(INSTALL "${PS_BINARY_DIR}/pathsteerd.service"
  DESTINATION "${prefix}/lib/systemd/system" FILE_PERMISSIONS OWNER_READ OWNER_WRITE
  GROUP_READ WORLD_READ)
file(INSTALL "${PS_SOURCE_DIR}/policy.yaml"
  DESTINATION "${etc}/pathsteer" FILE_PERMISSIONS OWNER_READ OWNER_WRITE
  GROUP_READ WORLD_READ)
