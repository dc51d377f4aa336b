// Workgroup-wide sum and max of one float per invocation, for the row
// reductions (one workgroup per row). Included after common.glsl.
//
// With USE_SUBGROUPS: subgroupAdd/subgroupMax, then, only when the workgroup
// has several subgroups, one shared slot per subgroup and two barriers. The
// shared-memory tree of the fallback needs log2(workgroup size) + 1 barriers;
// barriers are cheap on GPUs but each one is a switch through every SIMD batch
// of the workgroup on CPU implementations (lavapipe), and the tree leaves
// most invocations idle at every level.
//
// Every invocation returns the same value: the callers rely on it (all of
// them normalise with the same mean, and so on).
#ifdef USE_SUBGROUPS
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#endif

shared float reduce_scratch[gl_WorkGroupSize.x];

#ifdef USE_SUBGROUPS
#define DEFINE_WORKGROUP_REDUCE(name, subgroup_op, combine)                    \
    float name(float v)                                                      \
    {                                                                        \
        float s = subgroup_op(v);                                            \
        if (gl_NumSubgroups == 1u)                                           \
            return s;                                                        \
        if (subgroupElect())                                                 \
            reduce_scratch[gl_SubgroupID] = s;                               \
        barrier();                                                           \
        /* Same order in every invocation: the same result everywhere. */    \
        float total = reduce_scratch[0];                                     \
        for (uint i = 1u; i < gl_NumSubgroups; i++)                          \
            total = combine(total, reduce_scratch[i]);                       \
        barrier(); /* reduce_scratch is reused by the next reduction */      \
        return total;                                                        \
    }
#else
#define DEFINE_WORKGROUP_REDUCE(name, subgroup_op, combine)                    \
    float name(float v)                                                      \
    {                                                                        \
        uint t = gl_LocalInvocationID.x;                                     \
        reduce_scratch[t] = v;                                               \
        barrier();                                                           \
        for (uint stride = gl_WorkGroupSize.x / 2u; stride > 0u; stride >>= 1u) { \
            if (t < stride)                                                  \
                reduce_scratch[t] = combine(reduce_scratch[t], reduce_scratch[t + stride]); \
            barrier();                                                       \
        }                                                                    \
        float total = reduce_scratch[0];                                     \
        barrier();                                                           \
        return total;                                                        \
    }
#endif

float reduce_add_op(float a, float b)
{
    return a + b;
}

DEFINE_WORKGROUP_REDUCE(workgroup_sum, subgroupAdd, reduce_add_op)
DEFINE_WORKGROUP_REDUCE(workgroup_max, subgroupMax, max)
