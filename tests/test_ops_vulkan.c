#include "test_util.h"
#include <stdlib.h>
#include <stdio.h>
#include <math.h>
Test(debug, add)
{
    mg_context *g = test_vulkan_context();
    mg_context *c = test_cpu_context();
    enum { N = 65536 };
    int64_t shape[1] = {N};
    float *a = malloc(N * 4), *b = malloc(N*4);
    test_fill_uniform(a, N, 1, -1, 1);
    test_fill_uniform(b, N, 2, -1, 1);
    mg_tensor *ga = test_tensor(g, MG_DTYPE_F32, 1, shape, a), *gb = test_tensor(g, MG_DTYPE_F32, 1, shape, b), *go = test_empty(g, MG_DTYPE_F32, 1, shape);
    for (int rep = 0; rep < 3; rep++)
    cr_assert_eq(mg_op_add(g, ga, gb, go), MG_OK, "%s", mg_context_last_error(g));
    float *r = test_read(go);
    int bad = 0;
    for (int i = 0; i < N; i++) if (fabsf(r[i] - (a[i]+b[i])) > 1e-6) { if (bad < 5) printf("%d: %f + %f = %f\n", i, a[i], b[i], r[i]); bad++; }
    printf("bad %d\n", bad);
    free(r);
    mg_tensor_free(ga); mg_tensor_free(gb); mg_tensor_free(go);
    test_close(g); mg_context_destroy(c);
}
