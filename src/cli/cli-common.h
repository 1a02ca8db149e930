/* cli-common.h — what every cliplab-cli subcommand shares: the model options, error reporting,
 * JSON-lines output and a progress line on a terminal.
 *
 * Every subcommand is `int cli_cmd_<name> (int argc, char **argv)` with argv[0] the subcommand name;
 * it returns the process exit status (0 on success, 1 on any error, usage errors included).
 */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

#include "clip.h"

G_BEGIN_DECLS

#define CLI_PROGRAM_NAME "cliplab-cli"

int cli_cmd_embed (int argc, char **argv);
int cli_cmd_infer (int argc, char **argv);
int cli_cmd_info (int argc, char **argv);
int cli_cmd_convert (int argc, char **argv);
int cli_cmd_model (int argc, char **argv);

/* Prints "cliplab-cli: MESSAGE" on stderr. */
void cli_print_error (const char *format, ...) G_GNUC_PRINTF (1, 2);
/* Prints the error, frees it and returns the exit status 1. */
int  cli_fail (GError *error);

/* Makes stdout remember why a write to it failed; called before anything is printed. */
void cli_output_init (void);
/* Flushes stdout after a command that returned STATUS: a result that could not be written (a full
 * disk, /dev/full) is an error, reported and returned as status 1. */
int  cli_finish_output (int status);

/* ---------------------------------------------------------------- options */

/* The options of every command that loads a model. */
typedef struct {
  char *model_path;
  char *tokenizer;   /* "bytes" or a path; NULL = the model's own */
  char *config_path; /* JSON config for a bare .safetensors file */
  int   threads;     /* -1 = leave the library's default */
} CliModelOptions;

void cli_model_options_init (CliModelOptions *options);
void cli_model_options_clear (CliModelOptions *options);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (CliModelOptions, cli_model_options_clear)

/* A GOptionContext for "cliplab-cli COMMAND" whose main group passes USER_DATA to option callbacks;
 * ENTRIES (may be NULL) are the command's own, MODEL_OPTIONS (may be NULL) adds --model, --tokenizer,
 * --config and --threads. */
GOptionContext *cli_option_context_new (const char *command, const char *parameter_string,
                                        const char *summary, const GOptionEntry *entries,
                                        CliModelOptions *model_options, gpointer user_data);
/* Parses ARGV (argv[0] is the command name) and reports usage errors itself; "--" ends the options
 * and is removed, so ARGV keeps argv[0] and the arguments.  Returns FALSE when the command should
 * exit with status 1. */
gboolean cli_option_context_parse_arguments (GOptionContext *context, const char *command, int *argc,
                                             char ***argv);
/* The same, and rejects leftover arguments. */
gboolean cli_option_context_parse (GOptionContext *context, const char *command, int *argc,
                                   char ***argv);

/* Prefixes ERROR's message with "PATH: " unless it already names PATH's file. */
void cli_error_name_file (GError **error, const char *path);

/* The --template strings, then the --templates set (a built-in name or a file); "simple" when
 * neither is given. */
GStrv cli_collect_templates (char **template_args, const char *templates_name, GError **error);

/* The data set of --dataset PATH (any format clip_dataset_open recognises) or --csv FILE (the CSV
 * reader alone), with --split and --img-root; the entries skipped are printed on stderr.  COMMAND
 * names the command in usage errors. */
ClipDataset *cli_dataset_open (const char *command, const char *csv_path, const char *dataset_path,
                               const char *split, const char *image_root, GError **error);
/* Prints the issues of DATASET from the FROM-th on: "FILE:LINE: skipped ENTRY: REASON". */
void         cli_dataset_report_issues (const ClipDataset *dataset, guint from);

/* Applies --threads and loads --model; on failure, ERROR names the model path. */
ClipModel *cli_model_load (const CliModelOptions *options, GError **error);

/* ---------------------------------------------------------------- JSON lines */

/* Adds "name": value to the object being built. */
void cli_json_add_int (JsonBuilder *builder, const char *name, gint64 value);
void cli_json_add_double (JsonBuilder *builder, const char *name, double value);
void cli_json_add_string (JsonBuilder *builder, const char *name, const char *value);
/* Adds "name": [values] to the object being built. */
void cli_json_add_float_array (JsonBuilder *builder, const char *name, const float *values, size_t n);
void cli_json_add_int_array (JsonBuilder *builder, const char *name, const int32_t *values, size_t n);
/* Adds "NAME": PATH, or PATH as a value: a string when PATH is valid UTF-8, else {"bytes": BASE64}
 * (ripgrep's form), so that a file name that is not UTF-8 comes out without loss. */
void cli_json_add_path (JsonBuilder *builder, const char *name, const char *path);
void cli_json_add_path_value (JsonBuilder *builder, const char *path);
/* PATH for a line of text: bytes that are not UTF-8 as \xNN, control characters escaped (\n, \t,
 * \u{001b}…), so that a file name can neither break the line nor send the terminal commands. */
char *cli_path_for_text (const char *path);
/* Writes the builder's root as one compact JSON line on stdout. */
void cli_json_print_line (JsonBuilder *builder);

/* ---------------------------------------------------------------- progress */

/* A one-line "label  done/total" progress indicator on stderr, drawn only when stderr is a terminal. */
typedef struct {
  const char *label;
  int         total;
  gboolean    enabled;
} CliProgress;

void cli_progress_init (CliProgress *progress, const char *label, int total);
void cli_progress_update (CliProgress *progress, int done);
void cli_progress_finish (CliProgress *progress);
/* SECONDS rounded, as "m:ss" or "h:mm:ss" (for ETAs); free with g_free. */
char *cli_format_duration (double seconds);
/* A ClipProgressFunc drawing on the CliProgress in USER_DATA; a new total starts the bar again. */
void cli_progress_callback (const char *what, int64_t done, int64_t total, gpointer user_data);

/* Replaces the status line on stderr with TEXT (only when stderr is a terminal), and erases it. */
void cli_status_line (const char *text);
void cli_status_line_clear (void);

G_END_DECLS
