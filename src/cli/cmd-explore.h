/* cmd-explore.h — what `cliplab-cli map`, `duplicates` and `audit` share: the data set options
 * (--image-dir, or --csv with --img-root), its embeddings taken from the folder's index (updated
 * first, so only new and changed images are embedded), and progress with Ctrl-C for the library's
 * exploration calls. */
#pragma once

#include "cmd-index.h"

G_BEGIN_DECLS

int cli_cmd_map (int argc, char **argv);
int cli_cmd_duplicates (int argc, char **argv);
int cli_cmd_audit (int argc, char **argv);

typedef struct {
  char *image_dir;
  char *csv;
  char *img_root;
  char *dataset;
  char *split;
} CliExploreArgs;

void cli_explore_args_clear (CliExploreArgs *args);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (CliExploreArgs, cli_explore_args_clear)

/* Adds --image-dir, --csv, --dataset, --split and --img-root to CONTEXT's main group. */
void cli_explore_args_add (GOptionContext *context, CliExploreArgs *args);

/* The images of a data set with their embeddings. */
typedef struct {
  ClipModel *model;
  int        n, dim;
  float     *embeddings;     /* [n, dim] unit rows */
  uint8_t   *hashes;         /* [n, 16] content hashes */
  char     **paths;          /* [n] the folder as given joined with the path inside it (file name bytes:
                              * cli_json_add_path and cli_path_for_text print them) */
  int       *labels;         /* [n] in 0 … n_labels − 1, or NULL */
  char     **label_names;    /* [n_labels], NULL-terminated, or NULL */
  int        n_labels;
  char     **captions;       /* [n] of a CSV, NULL-terminated, or NULL */
} CliExploreData;

void cli_explore_data_clear (CliExploreData *data);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (CliExploreData, cli_explore_data_clear)

/* Loads the model, brings the index of --image-dir (or --img-root) up to date and takes the
 * embeddings: every indexed image of the folder in path order, with its class subfolder as label
 * when every image sits in one; or the CSV's rows in order, with the CSV's labels and captions; or
 * each image of a --dataset (clip_dataset_open; its image root is the folder indexed) once, in the
 * data set's order, with its labels and first caption (images the index skipped are reported on
 * stderr and left out); or each image of WebDataset shards, decoded from the tar stream and encoded
 * without an index (paths SHARD/MEMBER, hashes of the members' bytes). */
gboolean cli_explore_load (const CliExploreArgs *args, CliModelOptions *model_options, const CliIndexArgs *index_args,
                           CliExploreData *data, GError **error);

/* Progress bars on a terminal and Ctrl-C for the library's exploration calls. */
typedef struct {
  ClipCallbacks callbacks;
  CliProgress bar;
  const char *what;
  gint64      last_draw;
} CliExploreProgress;

void cli_explore_progress_begin (CliExploreProgress *progress);
void cli_explore_progress_end (CliExploreProgress *progress);

G_END_DECLS
