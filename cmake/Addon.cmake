# The Blender add-on as an installable zip: build/meshgpt-addon.zip holding meshgpt/ (the Python package,
# blender_manifest.toml, and lib/ with libmeshgpt.so and the libcjson it needs, for Linux x86-64).
# Install it with Edit > Preferences > Add-ons > Install... (Blender 3.4+).

file(GLOB MG_ADDON_FILES CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/addon/*.py ${PROJECT_SOURCE_DIR}/addon/*.toml)
set(MG_ADDON_STAGE ${PROJECT_BINARY_DIR}/addon-stage)
set(MG_ADDON_ZIP ${PROJECT_BINARY_DIR}/meshgpt-addon.zip)

# libcjson is not on every Linux: ship the copy the library was linked with, under its soname.
find_library(MG_CJSON_LIBRARY NAMES cjson HINTS ${CJSON_LIBRARY_DIRS})
set(MG_ADDON_EXTRA_COMMANDS)
if(MG_CJSON_LIBRARY)
    file(REAL_PATH ${MG_CJSON_LIBRARY} MG_CJSON_REAL)
    list(APPEND MG_ADDON_EXTRA_COMMANDS
        COMMAND ${CMAKE_COMMAND} -E copy ${MG_CJSON_REAL} ${MG_ADDON_STAGE}/meshgpt/lib/libcjson.so.1)
endif()

# The shipped default model, where the add-on looks for it (meshgpt/assets/models/).
set(MG_DEFAULT_MODEL ${PROJECT_SOURCE_DIR}/assets/models/meshgpt-default.safetensors)
set(MG_ADDON_MODEL_DEPENDS)
if(EXISTS ${MG_DEFAULT_MODEL})
    list(APPEND MG_ADDON_EXTRA_COMMANDS
        COMMAND ${CMAKE_COMMAND} -E make_directory ${MG_ADDON_STAGE}/meshgpt/assets/models
        COMMAND ${CMAKE_COMMAND} -E copy ${MG_DEFAULT_MODEL} ${MG_ADDON_STAGE}/meshgpt/assets/models/)
    set(MG_ADDON_MODEL_DEPENDS ${MG_DEFAULT_MODEL})
endif()

add_custom_command(OUTPUT ${MG_ADDON_ZIP}
    COMMAND ${CMAKE_COMMAND} -E rm -rf ${MG_ADDON_STAGE}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${MG_ADDON_STAGE}/meshgpt/lib
    COMMAND ${CMAKE_COMMAND} -E copy ${MG_ADDON_FILES} ${MG_ADDON_STAGE}/meshgpt/
    COMMAND ${CMAKE_COMMAND} -E copy $<TARGET_FILE:meshgpt> ${MG_ADDON_STAGE}/meshgpt/lib/libmeshgpt.so
    ${MG_ADDON_EXTRA_COMMANDS}
    COMMAND ${CMAKE_COMMAND} -E rm -f ${MG_ADDON_ZIP}
    COMMAND ${CMAKE_COMMAND} -E chdir ${MG_ADDON_STAGE} ${CMAKE_COMMAND} -E tar cf ${MG_ADDON_ZIP} --format=zip meshgpt
    DEPENDS ${MG_ADDON_FILES} meshgpt ${MG_ADDON_MODEL_DEPENDS}
    COMMENT "Packing the Blender add-on: meshgpt-addon.zip"
    VERBATIM)
add_custom_target(meshgpt_addon ALL DEPENDS ${MG_ADDON_ZIP})
