/*
 * Token files (mg_tokens_write_json / mg_tokens_read_json, README "Token
 * files"): round trips, the optional model and text fields, and every kind of
 * malformed file with MG_ERR_FORMAT and a message that says what is wrong.
 */
#include "meshgpt.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Files go to a folder of their own under the test's working folder (the build tree). */
static char folder[64];

static void make_folder(void)
{
    strcpy(folder, "token-files-XXXXXX");
    cr_assert_not_null(mkdtemp(folder));
}

static void remove_folder(void)
{
    char command[128];
    snprintf(command, sizeof command, "rm -rf '%s'", folder);
    cr_assert_eq(system(command), 0);
}

TestSuite(token_files, .init = make_folder, .fini = remove_folder);

static const char *path_of(const char *name)
{
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", folder, name);
    return path;
}

static void write_text(const char *name, const char *text)
{
    FILE *file = fopen(path_of(name), "wb");
    cr_assert_not_null(file);
    cr_assert_eq(fwrite(text, 1, strlen(text), file), strlen(text));
    cr_assert_eq(fclose(file), 0);
}

static char *read_text(const char *name)
{
    FILE *file = fopen(path_of(name), "rb");
    cr_assert_not_null(file);
    static char text[1 << 16];
    size_t n = fread(text, 1, sizeof text - 1, file);
    text[n] = '\0';
    fclose(file);
    return text;
}

Test(token_files, round_trip_with_model_and_text)
{
    int32_t values[2 * 3 * 2] = {17, 203, 5, 66, 190, 2, -1, 0, 16383, 2147483647, 1, -1};
    mg_tokens tokens = {values, 2, 3, 2};
    char error[512] = "";
    const char *text = "a \"red\" chair\nwith\ttabs, \\ and \xc3\xa9";
    cr_assert_eq(mg_tokens_write_json(path_of("a.json"), &tokens, "models/chair \"v2\".safetensors", text, error,
                                      sizeof error),
                 MG_OK, "%s", error);
    mg_tokens back;
    cr_assert_eq(mg_tokens_read_json(path_of("a.json"), &back, error, sizeof error), MG_OK, "%s", error);
    cr_assert_eq(back.num_faces, 2);
    cr_assert_eq(back.face_size, 3);
    cr_assert_eq(back.levels, 2);
    cr_assert_arr_eq(back.tokens, values, sizeof values);
    mg_tokens_free(&back);
    cr_assert_null(back.tokens);
    /* The optional fields are there, escaped as JSON strings, with the fixed header. */
    const char *file = read_text("a.json");
    cr_assert(strstr(file, "\"format\": \"meshgpt-tokens\""), "%s", file);
    cr_assert(strstr(file, "\"version\": 1"), "%s", file);
    cr_assert(strstr(file, "\"model\": \"models/chair \\\"v2\\\".safetensors\""), "%s", file);
    cr_assert(strstr(file, "\"text\": \"a \\\"red\\\" chair\\nwith\\ttabs, \\\\ and \xc3\xa9\""), "%s", file);
    /* One line per face. */
    cr_assert(strstr(file, "\n    17, 203, 5, 66, 190, 2,\n    -1, 0, 16383, 2147483647, 1, -1\n"), "%s", file);
    cr_assert_null(strstr(file, "\"faces\": 3"));
}

Test(token_files, round_trip_quads_without_optional_fields_and_empty)
{
    int32_t values[3 * 4 * 1];
    for (int i = 0; i < 12; i++)
        values[i] = i * 1000;
    mg_tokens tokens = {values, 3, 4, 1};
    char error[512] = "";
    cr_assert_eq(mg_tokens_write_json(path_of("q.json"), &tokens, NULL, NULL, error, sizeof error), MG_OK, "%s",
                 error);
    const char *file = read_text("q.json");
    cr_assert_null(strstr(file, "\"model\""));
    cr_assert_null(strstr(file, "\"text\""));
    mg_tokens back;
    cr_assert_eq(mg_tokens_read_json(path_of("q.json"), &back, error, sizeof error), MG_OK, "%s", error);
    cr_assert_eq(back.num_faces, 3);
    cr_assert_eq(back.face_size, 4);
    cr_assert_eq(back.levels, 1);
    cr_assert_arr_eq(back.tokens, values, sizeof values);
    mg_tokens_free(&back);
    /* No faces at all is a valid (empty) file. */
    mg_tokens empty = {NULL, 0, 3, 2};
    cr_assert_eq(mg_tokens_write_json(path_of("e.json"), &empty, NULL, NULL, error, sizeof error), MG_OK, "%s",
                 error);
    cr_assert_eq(mg_tokens_read_json(path_of("e.json"), &back, error, sizeof error), MG_OK, "%s", error);
    cr_assert_eq(back.num_faces, 0);
    cr_assert_eq(back.levels, 2);
    mg_tokens_free(&back);
    /* Written by another program: one line, other key order, extra keys ignored. */
    write_text("other.json", "{\"tokens\":[1,2,3,4,5,6],\"faces\":1,\"face_size\":3,\"levels\":2,"
                             "\"version\":1,\"format\":\"meshgpt-tokens\",\"comment\":{\"x\":[1]}}");
    cr_assert_eq(mg_tokens_read_json(path_of("other.json"), &back, error, sizeof error), MG_OK, "%s", error);
    cr_assert_eq(back.num_faces, 1);
    cr_assert_eq(back.tokens[5], 6);
    mg_tokens_free(&back);
}

/* Reading `content` fails with MG_ERR_FORMAT; the message names the file and each of the facts. */
static void expect_format_error(const char *content, const char *fact1, const char *fact2)
{
    write_text("bad.json", content);
    mg_tokens tokens;
    memset(&tokens, 0x5a, sizeof tokens);
    char error[512] = "";
    mg_status status = mg_tokens_read_json(path_of("bad.json"), &tokens, error, sizeof error);
    cr_assert_eq(status, MG_ERR_FORMAT, "%s: got %s (%s)", content, mg_status_string(status), error);
    cr_assert(strstr(error, path_of("bad.json")), "the message \"%s\" does not name the file", error);
    cr_assert(strstr(error, fact1), "the message \"%s\" does not say \"%s\"", error, fact1);
    if (fact2)
        cr_assert(strstr(error, fact2), "the message \"%s\" does not say \"%s\"", error, fact2);
    cr_assert_null(tokens.tokens);
    cr_assert_eq(tokens.num_faces, 0);
}

#define HEADER "{\"format\": \"meshgpt-tokens\", \"version\": 1, "

Test(token_files, malformed_files)
{
    expect_format_error("", "not a JSON object", NULL);
    expect_format_error("not json at all", "not a JSON object", NULL);
    expect_format_error("[1, 2, 3]", "not a JSON object", NULL);
    expect_format_error(HEADER "\"levels\": 2, \"face_size\": 3, \"faces\": 1, \"tokens\": [1, 2, 3, 4, 5, 6]",
                        "not a JSON object", NULL); /* cut short */
    expect_format_error("{\"format\": \"meshgpt-mesh\", \"version\": 1}", "\"format\"", "meshgpt-mesh");
    expect_format_error("{\"version\": 1}", "\"format\" is missing", NULL);
    expect_format_error("{\"format\": \"meshgpt-tokens\", \"version\": 2, \"levels\": 2, \"face_size\": 3, "
                        "\"faces\": 0, \"tokens\": []}",
                        "\"version\" is 2", "version 1");
    expect_format_error(HEADER "\"levels\": 0, \"face_size\": 3, \"faces\": 0, \"tokens\": []}", "\"levels\" is 0",
                        "1 to 64");
    expect_format_error(HEADER "\"levels\": 1e300, \"face_size\": 3, \"faces\": 0, \"tokens\": []}", "\"levels\"",
                        NULL);
    expect_format_error(HEADER "\"levels\": 2.5, \"face_size\": 3, \"faces\": 0, \"tokens\": []}",
                        "\"levels\" is 2.5", NULL);
    expect_format_error(HEADER "\"levels\": 2, \"face_size\": 5, \"faces\": 0, \"tokens\": []}",
                        "\"face_size\" is 5", "3 or 4");
    expect_format_error(HEADER "\"levels\": 2, \"face_size\": \"3\", \"faces\": 0, \"tokens\": []}",
                        "\"face_size\" is the string \"3\"", NULL);
    expect_format_error(HEADER "\"levels\": 2, \"face_size\": 3, \"faces\": -1, \"tokens\": []}", "\"faces\" is -1",
                        NULL);
    expect_format_error(HEADER "\"levels\": 2, \"face_size\": 3, \"tokens\": []}", "\"faces\" is missing", NULL);
    expect_format_error(HEADER "\"levels\": 2, \"face_size\": 3, \"faces\": 1, \"tokens\": {}}",
                        "\"tokens\" is an object", NULL);
    expect_format_error(HEADER "\"levels\": 2, \"face_size\": 3, \"faces\": 1, \"tokens\": [1, 2, 3, 4, 5]}",
                        "holds 5 values", "1 x 3 x 2 = 6");
    expect_format_error(HEADER "\"levels\": 2, \"face_size\": 3, \"faces\": 1, \"tokens\": [1, 2, 3, 4, 5, 6, 7]}",
                        "holds 7 values", NULL);
    expect_format_error(HEADER "\"levels\": 2, \"face_size\": 3, \"faces\": 2, \"tokens\": "
                               "[1, 2, 3, 4, 5, 6, 1, 2, \"7\", 4, 5, 6]}",
                        "token 8 (face 1, corner 1, level 0) is the string \"7\"", ">= -1");
    expect_format_error(HEADER "\"levels\": 2, \"face_size\": 3, \"faces\": 1, \"tokens\": [1, 2, 3, 4, 5, 1.5]}",
                        "token 5 (face 0, corner 2, level 1) is 1.5", NULL);
    expect_format_error(HEADER "\"levels\": 2, \"face_size\": 3, \"faces\": 1, \"tokens\": [-2, 2, 3, 4, 5, 6]}",
                        "token 0 (face 0, corner 0, level 0) is -2", "-1 marks a missing token");
    expect_format_error(HEADER "\"levels\": 2, \"face_size\": 3, \"faces\": 1, \"tokens\": [1, 2, 3, 4, 5, "
                               "2147483648]}",
                        "token 5", NULL);
    expect_format_error(HEADER "\"levels\": 2, \"face_size\": 3, \"faces\": 1, \"tokens\": [1, 2, 3, 4, 5, null]}",
                        "token 5 (face 0, corner 2, level 1) is null", NULL);
}

Test(token_files, io_errors_and_null_arguments)
{
    mg_tokens tokens;
    char error[512] = "";
    cr_assert_eq(mg_tokens_read_json(path_of("missing.json"), &tokens, error, sizeof error), MG_ERR_IO);
    cr_assert(strstr(error, "missing.json") && strstr(error, "No such file"), "%s", error);
    cr_assert_null(tokens.tokens);
    /* A folder is not a token file. */
    cr_assert_neq(mg_tokens_read_json(folder, &tokens, error, sizeof error), MG_OK);
    cr_assert(strstr(error, folder), "%s", error);
    cr_assert_null(tokens.tokens);

    int32_t values[6] = {0};
    mg_tokens some = {values, 1, 3, 2};
    cr_assert_eq(mg_tokens_write_json(path_of("no/such/dir.json"), &some, NULL, NULL, error, sizeof error), MG_ERR_IO);
    cr_assert(strstr(error, "no/such/dir.json"), "%s", error);
    cr_assert_eq(access(path_of("no/such/dir.json.tmp"), F_OK), -1);

    cr_assert_eq(mg_tokens_read_json(NULL, &tokens, error, sizeof error), MG_ERR_INVALID_ARGUMENT);
    cr_assert_eq(mg_tokens_read_json(path_of("x.json"), NULL, error, sizeof error), MG_ERR_INVALID_ARGUMENT);
    cr_assert_eq(mg_tokens_write_json(NULL, &some, NULL, NULL, error, sizeof error), MG_ERR_INVALID_ARGUMENT);
    cr_assert_eq(mg_tokens_write_json(path_of("x.json"), NULL, NULL, NULL, error, sizeof error),
                 MG_ERR_INVALID_ARGUMENT);
    mg_tokens no_array = {NULL, 1, 3, 2};
    cr_assert_eq(mg_tokens_write_json(path_of("x.json"), &no_array, NULL, NULL, error, sizeof error),
                 MG_ERR_INVALID_ARGUMENT);
    /* A NULL error buffer is fine. */
    cr_assert_eq(mg_tokens_read_json(path_of("missing.json"), &tokens, NULL, 0), MG_ERR_IO);
}
