# Compiles the GLSL compute shaders of shaders/ to SPIR-V with glslangValidator
# and embeds them in the library: no shader file is needed at run time.
#
# Each variant is "name|source|DEFINE;DEFINE". The generated shaders_embedded.h
# has one enum value per variant (MG_SHADER_<NAME>) and shaders_embedded.c the
# table of SPIR-V words the runtime creates modules from.
#
# Variants whose defines include USE_SUBGROUPS use GL_KHR_shader_subgroup_*
# (reductions without shared memory or barriers). They are compiled only when
# the configure-time probe below shows glslang supports those extensions;
# otherwise they are built without USE_SUBGROUPS (identical to the fallback
# variant) and MG_SHADERS_HAVE_SUBGROUPS is 0, so the runtime never picks them.

find_program(GLSLANG_VALIDATOR NAMES glslangValidator glslang REQUIRED)

set(MG_SHADER_DIR ${PROJECT_SOURCE_DIR}/shaders)
set(MG_SHADER_OUT ${PROJECT_BINARY_DIR}/shaders)
file(MAKE_DIRECTORY ${MG_SHADER_OUT})
file(GLOB MG_SHADER_INCLUDES CONFIGURE_DEPENDS ${MG_SHADER_DIR}/*.glsl)

set(MG_SHADER_VARIANTS
    "argmax|argmax.comp|"
    "binary|binary.comp|"
    "embedding_f32|embedding.comp|"
    "embedding_f16|embedding.comp|WEIGHT_F16"
    "geglu|geglu.comp|"
    "matmul_f32|matmul.comp|"
    "matmul_f16|matmul.comp|WEIGHT_F16"
    "matvec_f32|matvec.comp|"
    "matvec_f16|matvec.comp|WEIGHT_F16"
    "matvec_f32_sg|matvec.comp|USE_SUBGROUPS"
    "matvec_f16_sg|matvec.comp|WEIGHT_F16,USE_SUBGROUPS"
    "norm_f32|norm.comp|"
    "norm_f16|norm.comp|WEIGHT_F16"
    "norm_f32_sg|norm.comp|USE_SUBGROUPS"
    "norm_f16_sg|norm.comp|WEIGHT_F16,USE_SUBGROUPS"
    "softmax|softmax.comp|"
    "softmax_sg|softmax.comp|USE_SUBGROUPS"
    "argmax_sg|argmax.comp|USE_SUBGROUPS"
    "unary|unary.comp|"
    # autoencoder ops
    "conv1d_f32|conv1d.comp|"
    "conv1d_f16|conv1d.comp|WEIGHT_F16"
    "masked_mean|masked_mean.comp|"
    "scale_rows|scale_rows.comp|"
    "gather_mean|gather_mean.comp|"
    "copy_columns|copy_columns.comp|"
    "lfq|lfq.comp|"
    "vq_nearest_f32|vq_nearest.comp|"
    "vq_nearest_f16|vq_nearest.comp|WEIGHT_F16"
)
# Attention ops of the autoencoder's optional attention blocks (ops_attention.h).
list(APPEND MG_SHADER_VARIANTS
    "attn_local|attn_local.comp|"
    "attn_taylor_summary|attn_taylor_summary.comp|"
    "attn_taylor_readout|attn_taylor_readout.comp|"
)
# MeshTransformer ops (ops_transformer.h).
list(APPEND MG_SHADER_VARIANTS
    "tf_attention_f32|tf_attention.comp|"
    "tf_attention_f16|tf_attention.comp|WEIGHT_F16"
    "tf_attention_f32_sg|tf_attention.comp|USE_SUBGROUPS"
    "tf_attention_f16_sg|tf_attention.comp|WEIGHT_F16,USE_SUBGROUPS"
    "tf_gateloop|tf_gateloop.comp|"
    "tf_value_mix|tf_value_mix.comp|"
    "tf_copy_rows|tf_copy_rows.comp|"
    "tf_add_table_rows_f32|tf_add_table_rows.comp|"
    "tf_add_table_rows_f16|tf_add_table_rows.comp|WEIGHT_F16"
)
# Attention for Vulkan on the CPU: one invocation per (batch, query, head).
list(APPEND MG_SHADER_VARIANTS
    "tf_attention_per_invocation_f32|tf_attention_per_invocation.comp|"
    "tf_attention_per_invocation_f16|tf_attention_per_invocation.comp|WEIGHT_F16"
)
# Backward ops of the MeshTransformer ops (ops_grad_tf.h).
list(APPEND MG_SHADER_VARIANTS
    "grad_tf_attention_pack_memory_f32|grad_tf_attention_pack_memory.comp|"
    "grad_tf_attention_pack_memory_f16|grad_tf_attention_pack_memory.comp|WEIGHT_F16"
    "grad_tf_attention_query|grad_tf_attention_query.comp|"
    "grad_tf_attention_keys|grad_tf_attention_keys.comp|"
    "grad_tf_attention_memory_keys|grad_tf_attention_keys.comp|MEMORY_KEYS"
    "grad_tf_attention_memory_sum|grad_tf_attention_memory_sum.comp|"
    "grad_tf_gateloop|grad_tf_gateloop.comp|"
    "grad_tf_value_mix|grad_tf_value_mix.comp|"
    "grad_tf_add_table_rows|grad_tf_add_table_rows.comp|"
    "grad_tf_copy_rows|grad_tf_copy_rows.comp|"
)

# Generic backward ops for training (ops_grad.h).
list(APPEND MG_SHADER_VARIANTS
    "grad_matmul_tn|grad_matmul_tn.comp|"
    "grad_column_sum|grad_column_sum.comp|"
    "grad_embedding|grad_embedding.comp|"
    "grad_unary|grad_unary.comp|"
    "grad_geglu|grad_geglu.comp|"
    "grad_norm_f32|grad_norm.comp|"
    "grad_norm_f16|grad_norm.comp|WEIGHT_F16"
    "grad_norm_f32_sg|grad_norm.comp|USE_SUBGROUPS"
    "grad_norm_f16_sg|grad_norm.comp|WEIGHT_F16,USE_SUBGROUPS"
    "grad_norm_params|grad_norm_params.comp|"
    "grad_softmax|grad_softmax.comp|"
    "grad_softmax_sg|grad_softmax.comp|USE_SUBGROUPS"
    "grad_cross_entropy|grad_cross_entropy.comp|"
    "grad_cross_entropy_sg|grad_cross_entropy.comp|USE_SUBGROUPS"
)

# Autoencoder backward ops and losses (ops_grad_ae.h).
list(APPEND MG_SHADER_VARIANTS
    "grad_conv1d_dx_f32|grad_conv1d_dx.comp|"
    "grad_conv1d_dx_f16|grad_conv1d_dx.comp|WEIGHT_F16"
    "grad_conv1d_dw|grad_conv1d_dw.comp|"
    "grad_sum_rows|grad_sum_rows.comp|"
    "grad_masked_mean|grad_masked_mean.comp|"
    "grad_gather_mean|grad_gather_mean.comp|"
    "grad_copy_columns|grad_copy_columns.comp|"
    "recon_loss|recon_loss.comp|"
)

# Training: optimizer ops (native/src/train/optim.h).
list(APPEND MG_SHADER_VARIANTS
    "optim_adam|optim_adam.comp|"
    "optim_sum_squares|optim_sum_squares.comp|"
    "optim_sum_squares_sg|optim_sum_squares.comp|USE_SUBGROUPS"
    "optim_ema_lerp|optim_ema_lerp.comp|"
)

# ResidualLFQ's training terms (ops_grad_ae.h: mg_op_lfq_loss, mg_op_lfq_backward).
list(APPEND MG_SHADER_VARIANTS
    "lfq_code_partial|lfq_code_partial.comp|"
    "lfq_row_stats|lfq_row_stats.comp|"
    "lfq_loss_finish|lfq_loss_finish.comp|"
    "lfq_backward|lfq_backward.comp|"
)

# New variant blocks go ABOVE this line: the probe and the compile loop below
# only see the variants listed by then (a block appended at the end of the file
# silently compiles nothing).

# Configure-time probe: the toolchain must target Vulkan 1.1 SPIR-V. Optional
# extensions used by later variants are probed the same way (see README).
execute_process(
    COMMAND ${GLSLANG_VALIDATOR} -V --target-env vulkan1.1 -o ${MG_SHADER_OUT}/probe.spv
            ${MG_SHADER_DIR}/unary.comp
    RESULT_VARIABLE MG_GLSLANG_PROBE OUTPUT_QUIET ERROR_QUIET)
if(NOT MG_GLSLANG_PROBE EQUAL 0)
    message(FATAL_ERROR "${GLSLANG_VALIDATOR} cannot compile Vulkan 1.1 compute shaders; "
                        "install a recent glslang (Debian: glslang-tools)")
endif()

# Optional: subgroup arithmetic (GL_KHR_shader_subgroup_basic + _arithmetic).
file(WRITE ${MG_SHADER_OUT}/probe_subgroups.comp
"#version 450
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
layout(local_size_x = 64) in;
layout(std430, binding = 0) buffer B { float v[]; };
void main()
{
    float s = subgroupAdd(v[gl_GlobalInvocationID.x]);
    uint m = subgroupMax(floatBitsToUint(s)) + subgroupMin(gl_SubgroupInvocationID);
    if (subgroupElect())
        v[gl_SubgroupID] = s + float(m + gl_NumSubgroups + gl_SubgroupSize);
}
")
execute_process(
    COMMAND ${GLSLANG_VALIDATOR} -V --target-env vulkan1.1 -o ${MG_SHADER_OUT}/probe_subgroups.spv
            ${MG_SHADER_OUT}/probe_subgroups.comp
    RESULT_VARIABLE MG_GLSLANG_SUBGROUP_PROBE OUTPUT_QUIET ERROR_QUIET)
if(MG_GLSLANG_SUBGROUP_PROBE EQUAL 0)
    set(MG_SHADERS_HAVE_SUBGROUPS 1)
else()
    set(MG_SHADERS_HAVE_SUBGROUPS 0)
    message(STATUS "${GLSLANG_VALIDATOR} cannot compile subgroup arithmetic: "
                   "using the shared-memory reductions only")
endif()

set(MG_SHADER_HEADERS)
set(enum_lines "")
set(include_lines "")
set(table_lines "")
foreach(variant IN LISTS MG_SHADER_VARIANTS)
    string(REPLACE "|" ";" parts "${variant}")
    list(GET parts 0 name)
    list(GET parts 1 source)
    list(LENGTH parts part_count)
    set(define_flags)
    if(part_count GREATER 2)
        list(GET parts 2 defines)
        if(defines)
            string(REPLACE "," ";" defines "${defines}")
            if(NOT MG_SHADERS_HAVE_SUBGROUPS)
                list(REMOVE_ITEM defines USE_SUBGROUPS)
            endif()
            foreach(d IN LISTS defines)
                list(APPEND define_flags "-D${d}")
            endforeach()
        endif()
    endif()
    set(header ${MG_SHADER_OUT}/${name}.spv.h)
    add_custom_command(
        OUTPUT ${header}
        COMMAND ${GLSLANG_VALIDATOR} -V --target-env vulkan1.1 --quiet ${define_flags}
                -I${MG_SHADER_DIR} --vn mg_spirv_${name} -o ${header} ${MG_SHADER_DIR}/${source}
        DEPENDS ${MG_SHADER_DIR}/${source} ${MG_SHADER_INCLUDES}
        COMMENT "Compiling shader ${name} (${source} ${define_flags})"
        VERBATIM)
    list(APPEND MG_SHADER_HEADERS ${header})
    string(TOUPPER ${name} upper)
    string(APPEND enum_lines "    MG_SHADER_${upper},\n")
    string(APPEND include_lines "#include \"${name}.spv.h\"\n")
    string(APPEND table_lines "    {\"${name}\", mg_spirv_${name}, sizeof(mg_spirv_${name})},\n")
endforeach()

file(CONFIGURE OUTPUT ${MG_SHADER_OUT}/shaders_embedded.h CONTENT
"/* Generated by cmake/Shaders.cmake: do not edit. */
#ifndef MG_SHADERS_EMBEDDED_H
#define MG_SHADERS_EMBEDDED_H
#include <stddef.h>
#include <stdint.h>
/* 1 when the *_sg variants really use subgroup operations (glslang probe). */
#define MG_SHADERS_HAVE_SUBGROUPS ${MG_SHADERS_HAVE_SUBGROUPS}
typedef enum mg_shader_id {
${enum_lines}    MG_SHADER_COUNT
} mg_shader_id;
typedef struct mg_shader_blob {
    const char *name;
    const uint32_t *words;
    size_t size_bytes;
} mg_shader_blob;
extern const mg_shader_blob mg_shader_blobs[MG_SHADER_COUNT];
#endif
")

file(CONFIGURE OUTPUT ${MG_SHADER_OUT}/shaders_embedded.c CONTENT
"/* Generated by cmake/Shaders.cmake: do not edit. */
#include \"shaders_embedded.h\"
${include_lines}
const mg_shader_blob mg_shader_blobs[MG_SHADER_COUNT] = {
${table_lines}};
")
