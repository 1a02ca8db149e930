/* cmd-index.h — what `cliplab-cli index` and `cliplab-cli search` share: the options that say how a
 * folder is indexed, and running an update with a progress bar and Ctrl-C handling. */
#pragma once

#include "cli-common.h"

G_BEGIN_DECLS

int cli_cmd_index (int argc, char **argv);
int cli_cmd_search (int argc, char **argv);

typedef struct {
  char   **exclude;
  gboolean follow_symlinks;
  gboolean hidden;
  gboolean no_exif;
  gboolean exact_decode;
  double   max_megapixels;
  int      flush_every;
  int      batch_size;
  int      decode_threads;
} CliIndexArgs;

void cli_index_args_clear (CliIndexArgs *args);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (CliIndexArgs, cli_index_args_clear)

/* Adds --exclude, --follow-symlinks, --hidden, --no-exif, --exact-decode, --max-megapixels,
 * --flush-every, --batch-size and --decode-threads to CONTEXT's main group. */
void cli_index_args_add (GOptionContext *context, CliIndexArgs *args);

/* Parses ARGV (argv[0] the command name) and takes the one folder argument into *FOLDER; reports
 * usage errors itself and returns FALSE then. */
gboolean cli_index_parse (GOptionContext *context, const char *command, int *argc, char ***argv,
                          const char **folder);

/* Loads the model of --model, else $CLIPLAB_MODEL. */
ClipModel *cli_index_load_model (CliModelOptions *model_options, GError **error);

/* Loads the model (--model, else $CLIPLAB_MODEL) and opens the index of FOLDER; warnings about a
 * damaged index are printed. */
ClipIndex *cli_index_open (const char *folder, CliModelOptions *model_options, const CliIndexArgs *args,
                           ClipModel **model, GError **error);

/* Brings INDEX up to date with a progress bar on a terminal; Ctrl-C stops it, keeping what was
 * embedded. */
gboolean cli_index_update (ClipIndex *index, ClipIndexStats *stats, GError **error);

/* FOLDER as the user gave it, joined with PATH (relative to the index's folder), for display. */
char *cli_index_display_path (const char *folder, const char *path);  /* for text: cli_path_for_text */

G_END_DECLS
