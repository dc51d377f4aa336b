/* mg_default_model_path: MESHGPT_DEFAULT_MODEL wins when set; a missing file is reported with the places tried. */
#include "meshgpt.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

Test(default_model, the_environment_variable_names_the_file)
{
    char file[] = "/tmp/mg-default-model-XXXXXX";
    int fd = mkstemp(file);
    cr_assert(fd >= 0);
    close(fd);
    setenv("MESHGPT_DEFAULT_MODEL", file, 1);
    char path[4096], error[4096];
    cr_expect_eq(mg_default_model_path(path, sizeof path, error, sizeof error), MG_OK, "%s", error);
    cr_expect_str_eq(path, file);
    /* Too small a buffer is an error, not a cut path. */
    char small[8];
    cr_expect_eq(mg_default_model_path(small, sizeof small, error, sizeof error), MG_ERR_INVALID_ARGUMENT);
    remove(file);
    cr_expect_eq(mg_default_model_path(path, sizeof path, error, sizeof error), MG_ERR_IO);
    cr_expect(strstr(error, file) && strstr(error, "MESHGPT_DEFAULT_MODEL"), "%s", error);
    unsetenv("MESHGPT_DEFAULT_MODEL");
}
