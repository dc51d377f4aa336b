// Shared by every shader of libmeshgpt. Included after #version.
//
// Conventions:
//  - binding i of set 0 is the op's i-th tensor (a storage buffer);
//  - the push-constant block starts with element offsets of the tensors inside
//    their bound ranges (the host binds at aligned offsets);
//  - constant_id 0 is the workgroup size in x;
//  - "weight" buffers hold parameters in f32, or f16 when WEIGHT_F16 is defined;
//    f16 is read through unpackHalf2x16, which every Vulkan device has (no
//    16-bit storage feature needed); arithmetic is always f32.

#extension GL_EXT_control_flow_attributes : enable

// Declared here, before anything reads gl_WorkGroupSize: glslang folds
// gl_WorkGroupSize to its default (1) in code that precedes this declaration.
layout(local_size_x_id = 0) in;

#ifdef WEIGHT_F16
#define WEIGHT_BUFFER(index, name) \
    layout(std430, set = 0, binding = index) readonly buffer name##_block { uint name##_words[]; };
#define LOAD_WEIGHT(name, i) (unpackHalf2x16(name##_words[(i) >> 1u])[(i) & 1u])
#else
#define WEIGHT_BUFFER(index, name) \
    layout(std430, set = 0, binding = index) readonly buffer name##_block { float name##_values[]; };
#define LOAD_WEIGHT(name, i) (name##_values[i])
#endif

// The same weight buffer again, read 4 elements at a time: LOAD_WEIGHT4(name, j)
// is elements 4j..4j+3 (one vec4, or one uvec2 of 4 halves). Only for element
// offsets that are multiples of 4.
#ifdef WEIGHT_F16
#define WEIGHT_BUFFER4(index, name) \
    layout(std430, set = 0, binding = index) readonly buffer name##4_block { uvec2 name##_words4[]; };
#define LOAD_WEIGHT4(name, j) \
    vec4(unpackHalf2x16(name##_words4[j].x), unpackHalf2x16(name##_words4[j].y))
#else
#define WEIGHT_BUFFER4(index, name) \
    layout(std430, set = 0, binding = index) readonly buffer name##4_block { vec4 name##_values4[]; };
#define LOAD_WEIGHT4(name, j) (name##_values4[j])
#endif

#define INPUT_BUFFER(index, name) \
    layout(std430, set = 0, binding = index) readonly buffer name##_block { float name[]; };
#define INPUT_BUFFER_INT(index, name) \
    layout(std430, set = 0, binding = index) readonly buffer name##_block { int name[]; };
#define OUTPUT_BUFFER(index, name) \
    layout(std430, set = 0, binding = index) writeonly buffer name##_block { float name[]; };
#define INOUT_BUFFER(index, name) \
    layout(std430, set = 0, binding = index) buffer name##_block { float name[]; };

// Index of this workgroup in a grid that the host may have spread over x and y.
uint flat_workgroup_index()
{
    return gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x;
}

uint flat_invocation_index()
{
    return flat_workgroup_index() * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
}

// erfc(ax) for ax >= 0 with a relative error of about 1.2e-7 (a Chebyshev fit
// of the Numerical Recipes "erfcc" form): accurate on the tail, which is what
// GELU of negative inputs needs.
float erfc_nonnegative(float ax)
{
    float t = 1.0 / (1.0 + 0.5 * ax);
    float poly = -0.82215223 + t * 0.17087277;
    poly = 1.48851587 + t * poly;
    poly = -1.13520398 + t * poly;
    poly = 0.27886807 + t * poly;
    poly = -0.18628806 + t * poly;
    poly = 0.09678418 + t * poly;
    poly = 0.37409196 + t * poly;
    poly = 1.00002368 + t * poly;
    poly = -1.26551223 + t * poly;
    return t * exp(-ax * ax + poly);
}

// erf: a Taylor series near 0 (where 1 - erfc would cancel), erfc elsewhere.
float erf_precise(float x)
{
    float ax = abs(x);
    if (ax < 0.5) {
        float x2 = x * x;
        // 2/sqrt(pi) * sum_n (-1)^n x^(2n+1) / (n! (2n+1)), n = 0..7
        const float c = 1.1283791670955126;
        float p = -c / 75600.0;
        p = p * x2 + c / 9360.0;
        p = p * x2 - c / 1320.0;
        p = p * x2 + c / 216.0;
        p = p * x2 - c / 42.0;
        p = p * x2 + c / 10.0;
        p = p * x2 - c / 3.0;
        p = p * x2 + c;
        return x * p;
    }
    float e = erfc_nonnegative(ax);
    return x >= 0.0 ? 1.0 - e : e - 1.0;
}

// 1 + erf(x), without cancellation for negative x.
float one_plus_erf(float x)
{
    return x >= -0.5 ? 1.0 + erf_precise(x) : erfc_nonnegative(-x);
}

// Exact (erf) GELU, as torch.nn.functional.gelu's default.
float gelu_erf(float x)
{
    return 0.5 * x * one_plus_erf(x * 0.70710678118654752);
}

float sigmoid_stable(float x)
{
    // exp(-x) overflows to +inf for x < -88, and 1/(1+inf) = 0 is the right limit.
    return 1.0 / (1.0 + exp(-x));
}

// tanh without the inf/inf of (e^2x - 1)/(e^2x + 1) for large |x| and without
// cancellation near 0.
float tanh_stable(float x)
{
    float ax = abs(x);
    float r;
    if (ax < 0.125) {
        float x2 = ax * ax;
        r = ax * (1.0 + x2 * (-1.0 / 3.0 + x2 * (2.0 / 15.0 + x2 * (-17.0 / 315.0))));
    } else {
        float e = exp(-2.0 * min(ax, 20.0));
        r = (1.0 - e) / (1.0 + e);
    }
    return x < 0.0 ? -r : r;
}
