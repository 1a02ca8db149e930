/* train-run.c — a whole training run around ClipTrainer: data decoded once, seeded shuffling and
 * augmentation, the schedule, a JSON-lines log, validation, checkpoints kept N deep, and resuming
 * so that the losses continue bit for bit.
 *
 * Exact resume without saving generator states: the order of epoch E is drawn from a GRand seeded
 * with (seed, E) and the augmentation of step S from one seeded with (seed, S), so the step count
 * in a checkpoint determines every draw still to come. */
#include "clip-private.h"
#include "clip-json.h"
#include "util-file.h"
#include "util-json.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#define RUN_FORMAT_VERSION   1
#define RUN_CONFIG_KEY       "train.config"   /* checkpoint metadata: the run's configuration */
#define RUN_STATE_KEY        "train.state"    /* and where the data loader stands */
#define CHECKPOINT_PREFIX    "checkpoint-"
#define CHECKPOINT_SUFFIX    ".safetensors"
#define MODEL_FILE           "model.safetensors"
#define LOCK_FILE            ".lock"
#define CROPS_MEMORY_LIMIT   ((size_t) 8 << 30)   /* beyond this, prepared crops go to a cache file */
#define VALIDATION_BATCH     64
#define HEARTBEAT_S          1.0  /* rank 0 validating tells the waiting ranks it is alive this often */
#define LN_EPS               1e-5f
#define ETA_SMOOTHING        0.1                  /* weight of the newest step time */
/* Tags that keep the shuffling and augmentation streams apart for equal numbers. */
#define SHUFFLE_STREAM       0x53687566u
#define AUGMENT_STREAM       0x41756730u

/* ------------------------------------------------------------------ configuration */

typedef enum { FIELD_STRING, FIELD_INT, FIELD_INT64, FIELD_DOUBLE, FIELD_BOOL, FIELD_SEED, FIELD_ACTIVATION } FieldType;

/* Every field of ClipTrainRunConfig: its JSON key in checkpoints, type and place (but
 * fit_batch_size, resolved into batch_size before the first checkpoint).  A field added after
 * checkpoints were first written (F_LATER) takes its default when a checkpoint lacks it: what
 * the runs that wrote those checkpoints did. */
static const struct {
  const char *key;
  FieldType   type;
  size_t      offset;
  gboolean    later;
} config_fields[] = {
#define F(key, type, member) { key, type, G_STRUCT_OFFSET (ClipTrainRunConfig, member), FALSE }
#define F_LATER(key, type, member) { key, type, G_STRUCT_OFFSET (ClipTrainRunConfig, member), TRUE }
  F ("csv", FIELD_STRING, csv_path),
  F ("img_root", FIELD_STRING, image_root),
  F ("val_csv", FIELD_STRING, val_csv_path),
  F ("val_templates", FIELD_STRING, val_templates),
  F ("split", FIELD_STRING, split),
  F ("val_split", FIELD_STRING, val_split),
  F ("out", FIELD_STRING, out_dir),
  F ("log_json", FIELD_STRING, log_json_path),
  F ("epochs", FIELD_INT, epochs),
  F ("batch_size", FIELD_INT, batch_size),
  F ("lr", FIELD_DOUBLE, lr),
  F ("warmup", FIELD_INT64, warmup_steps),
  F ("weight_decay", FIELD_DOUBLE, weight_decay),
  F ("grad_clip", FIELD_DOUBLE, grad_clip),
  F ("max_steps", FIELD_INT64, max_steps),
  F ("seed", FIELD_SEED, seed),
  F ("shuffle", FIELD_BOOL, shuffle),
  F ("augment", FIELD_BOOL, augment),
  F_LATER ("augment_flip", FIELD_BOOL, augment_flip),
  F ("init", FIELD_STRING, init_model),
  F ("tokenizer", FIELD_STRING, tokenizer),
  F ("vision_width", FIELD_INT, vision_width),
  F ("vision_layers", FIELD_INT, vision_layers),
  F ("vision_heads", FIELD_INT, vision_heads),
  F ("patch_size", FIELD_INT, patch_size),
  F ("image_size", FIELD_INT, image_size),
  F ("text_width", FIELD_INT, text_width),
  F ("text_layers", FIELD_INT, text_layers),
  F ("text_heads", FIELD_INT, text_heads),
  F ("context_length", FIELD_INT, context_length),
  F ("embed_dim", FIELD_INT, embed_dim),
  F ("activation", FIELD_ACTIVATION, activation),
  F ("save_every", FIELD_INT64, save_every),
  F ("keep", FIELD_INT, keep),
#undef F
#undef F_LATER
};

#define FIELD(config, type, i) G_STRUCT_MEMBER (type, config, config_fields[i].offset)

void
clip_train_run_config_init (ClipTrainRunConfig *config)
{
  *config = (ClipTrainRunConfig) {
    .epochs = 10, .batch_size = 64, .lr = 1e-4, .warmup_steps = -1, .weight_decay = 0.2,
    .grad_clip = 1.0, .max_steps = 0, .seed = 0, .shuffle = TRUE, .augment = FALSE,
    .augment_flip = FALSE,
    .vision_width = 768, .vision_layers = 12, .vision_heads = 0, .patch_size = 32, .image_size = 224,
    .text_width = 512, .text_layers = 12, .text_heads = 8, .context_length = 77, .embed_dim = 512,
    .activation = CLIP_ACTIVATION_QUICK_GELU, .save_every = 500, .keep = 3,
  };
}

void
clip_train_run_config_clear (ClipTrainRunConfig *config)
{
  for (size_t i = 0; i < G_N_ELEMENTS (config_fields); i++)
    if (config_fields[i].type == FIELD_STRING)
      g_clear_pointer (&FIELD (config, char *, i), g_free);
}

void
clip_train_run_config_copy (const ClipTrainRunConfig *src, ClipTrainRunConfig *dst)
{
  *dst = *src;
  for (size_t i = 0; i < G_N_ELEMENTS (config_fields); i++)
    if (config_fields[i].type == FIELD_STRING)
      FIELD (dst, char *, i) = g_strdup (FIELD (src, char *, i));
}

static const char *
activation_key (ClipActivation activation)
{
  return activation == CLIP_ACTIVATION_GELU ? "gelu" : "quick_gelu";
}

/* Doubles are written with round-trip precision, so a resumed run has the very same rates. */
static char *
config_to_json (const ClipTrainRunConfig *config)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  for (size_t i = 0; i < G_N_ELEMENTS (config_fields); i++)
    {
      json_builder_set_member_name (b, config_fields[i].key);
      switch (config_fields[i].type)
        {
        case FIELD_STRING:
          if (FIELD (config, char *, i) != NULL)
            json_builder_add_string_value (b, FIELD (config, char *, i));
          else
            json_builder_add_null_value (b);
          break;
        case FIELD_INT:
          json_builder_add_int_value (b, FIELD (config, int, i));
          break;
        case FIELD_INT64:
          json_builder_add_int_value (b, FIELD (config, int64_t, i));
          break;
        case FIELD_DOUBLE:
          json_builder_add_double_value (b, FIELD (config, double, i));
          break;
        case FIELD_BOOL:
          json_builder_add_boolean_value (b, FIELD (config, gboolean, i));
          break;
        case FIELD_SEED:
          {
            /* a string: JSON integers are signed 64-bit in json-glib */
            g_autofree char *text = g_strdup_printf ("%" G_GUINT64_FORMAT, (guint64) FIELD (config, uint64_t, i));
            json_builder_add_string_value (b, text);
          }
          break;
        case FIELD_ACTIVATION:
          json_builder_add_string_value (b, activation_key (FIELD (config, ClipActivation, i)));
          break;
        }
    }
  json_builder_end_object (b);
  g_autoptr (JsonNode) root = json_builder_get_root (b);
  return json_to_string (root, FALSE);
}

static gboolean
config_from_json (const char *json, const char *label, ClipTrainRunConfig *config, GError **error)
{
  g_autoptr (JsonNode) root = clip_json_parse (json, strlen (json), label, TRUE, error);
  if (root == NULL)
    return FALSE;
  if (!JSON_NODE_HOLDS_OBJECT (root))
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT, "%s: metadata \"%s\" is not a JSON object", label,
                   RUN_CONFIG_KEY);
      return FALSE;
    }
  JsonObject *obj = json_node_get_object (root);
  clip_train_run_config_init (config);
  for (size_t i = 0; i < G_N_ELEMENTS (config_fields); i++)
    {
      const char *key = config_fields[i].key;
      JsonNode *node = json_object_get_member (obj, key);
      if (node == NULL && config_fields[i].later)
        continue;
      gboolean ok = node != NULL && (JSON_NODE_HOLDS_VALUE (node) || JSON_NODE_HOLDS_NULL (node));
      GType type = ok && JSON_NODE_HOLDS_VALUE (node) ? json_node_get_value_type (node) : G_TYPE_NONE;
      switch (config_fields[i].type)
        {
        case FIELD_STRING:
          /* A missing string is NULL: checkpoints written before a field existed (split) still resume. */
          ok = node == NULL || (ok && (type == G_TYPE_STRING || JSON_NODE_HOLDS_NULL (node)));
          if (ok && node != NULL)
            FIELD (config, char *, i) = g_strdup (json_node_get_string (node));
          break;
        case FIELD_INT:
          ok = ok && type == G_TYPE_INT64 && json_node_get_int (node) >= G_MININT
               && json_node_get_int (node) <= G_MAXINT;
          if (ok)
            FIELD (config, int, i) = (int) json_node_get_int (node);
          break;
        case FIELD_INT64:
          ok = ok && type == G_TYPE_INT64;
          if (ok)
            FIELD (config, int64_t, i) = json_node_get_int (node);
          break;
        case FIELD_DOUBLE:
          ok = ok && (type == G_TYPE_DOUBLE || type == G_TYPE_INT64);
          if (ok)
            FIELD (config, double, i) = json_node_get_double (node);
          break;
        case FIELD_BOOL:
          ok = ok && type == G_TYPE_BOOLEAN;
          if (ok)
            FIELD (config, gboolean, i) = json_node_get_boolean (node);
          break;
        case FIELD_SEED:
          {
            guint64 seed = 0;
            ok = ok && type == G_TYPE_STRING
                 && g_ascii_string_to_unsigned (json_node_get_string (node), 10, 0, G_MAXUINT64, &seed, NULL);
            FIELD (config, uint64_t, i) = seed;
          }
          break;
        case FIELD_ACTIVATION:
          ok = ok && type == G_TYPE_STRING;
          if (ok && g_str_equal (json_node_get_string (node), "gelu"))
            FIELD (config, ClipActivation, i) = CLIP_ACTIVATION_GELU;
          else if (ok && g_str_equal (json_node_get_string (node), "quick_gelu"))
            FIELD (config, ClipActivation, i) = CLIP_ACTIVATION_QUICK_GELU;
          else
            ok = FALSE;
          break;
        }
      if (!ok)
        {
          g_set_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT, "%s: metadata \"%s\": \"%s\" is missing or of the "
                       "wrong type", label, RUN_CONFIG_KEY, key);
          clip_train_run_config_clear (config);
          return FALSE;
        }
    }
  return TRUE;
}

/* Ranges that hold whatever the model and data; the model's own limits are checked when it is built. */
static gboolean
config_validate (const ClipTrainRunConfig *c, GError **error)
{
  const struct { const char *what; int64_t value, min, max; } ranges[] = {
    { "number of epochs", c->epochs, 1, G_MAXINT },
    { "batch size", c->batch_size, 2, 65536 },
    { "number of warmup steps", c->warmup_steps, -1, G_MAXINT64 },
    { "maximum number of steps", c->max_steps, 0, G_MAXINT64 },
    { "checkpoint interval", c->save_every, 0, G_MAXINT64 },
    { "number of checkpoints to keep", c->keep, 1, G_MAXINT },
    { "vision width", c->vision_width, 1, CLIP_MAX_DIM_SIZE },
    { "number of vision layers", c->vision_layers, 1, 1024 },
    { "number of vision heads", c->vision_heads, 0, CLIP_MAX_DIM_SIZE },
    { "patch size", c->patch_size, 1, CLIP_MAX_DIM_SIZE },
    { "image size", c->image_size, 1, 16384 },
    { "text width", c->text_width, 1, CLIP_MAX_DIM_SIZE },
    { "number of text layers", c->text_layers, 1, 1024 },
    { "number of text heads", c->text_heads, 1, CLIP_MAX_DIM_SIZE },
    { "context length", c->context_length, 2, CLIP_MAX_DIM_SIZE },
    { "embedding size", c->embed_dim, 1, CLIP_MAX_DIM_SIZE },
  };
  for (size_t i = 0; i < G_N_ELEMENTS (ranges); i++)
    if (ranges[i].value < ranges[i].min || ranges[i].value > ranges[i].max)
      {
        g_set_error (error, CLIP_ERROR, CLIP_ERROR_INVALID, "training: the %s is %" G_GINT64_FORMAT "; it must be "
                     "%" G_GINT64_FORMAT " to %" G_GINT64_FORMAT, ranges[i].what, ranges[i].value, ranges[i].min,
                     ranges[i].max);
        return FALSE;
      }
  const struct { const char *what; const char *value; } required[] = {
    { "training data set", c->csv_path }, { "output folder", c->out_dir },
  };
  for (size_t i = 0; i < G_N_ELEMENTS (required); i++)
    if (required[i].value == NULL || required[i].value[0] == '\0')
      {
        g_set_error (error, CLIP_ERROR, CLIP_ERROR_INVALID, "training: no %s was given", required[i].what);
        return FALSE;
      }
  /* The trainer checks the optimiser's values; here only what must hold before data is read. */
  if (!(c->lr > 0 && c->lr <= 1e3) || !(c->weight_decay >= 0 && c->weight_decay <= 1e3)
      || !(c->grad_clip >= 0 && c->grad_clip <= 1e30))
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_INVALID, "training: learning rate %g, weight decay %g, gradient "
                   "clip %g: need 0 < rate ≤ 1000, 0 ≤ decay ≤ 1000, clip ≥ 0", c->lr, c->weight_decay, c->grad_clip);
      return FALSE;
    }
  return TRUE;
}

/* ------------------------------------------------------------------ the run */

struct _ClipTrainRun {
  ClipTrainRunConfig config;        /* resolved: absolute paths, heads, the model's architecture */
  ClipTrainEvents    events;          /* events.callbacks.user_data goes to every event */
  int                lock_fd;

  ClipDataset  *train, *val;
  char        **templates;          /* zero-shot prompts for validation */
  char         *csv_sha256;
  ClipModel    *initial;            /* a new run's starting model, until the trainer copies it */
  ClipTrainer  *trainer;
  gboolean      resumed;
  int           expected_n_train;   /* from the checkpoint of a resumed run, else -1 */
  gboolean      prepared;

  int           n_train;
  int64_t       steps_per_epoch, total_steps;
  int64_t       last_saved_step;
  int32_t      *ids;                /* [n_train, context_length] */
  int          *order;              /* [n_train] the permutation of ORDER_EPOCH */
  int64_t       order_epoch;
  float        *pixels;             /* [batch, 3, S, S] */
  int32_t      *batch_ids;          /* [batch, context_length] */
  uint8_t      *augmented;          /* [S, S, 3] */
  FILE         *log;
  double        step_seconds;       /* smoothed, for the ETA */

  /* Data-parallel runs (clip_train_run_new_distributed): this rank trains on its share of every
   * batch, decoding only those images; rank 0 alone writes the folder, the log and validates. */
  gboolean          distributed;
  ClipCommunicator  comm;
  ClipCropCache    *crops;
  GError           *pending_failure;  /* rank 0's, told to the others at the next agreement */
  gboolean          validates;        /* a validation set was given (only rank 0 keeps it) */
  gint64            last_heartbeat;   /* rank 0 validating: when it last told the others */
  GError           *heartbeat_error;  /* a heartbeat that failed during validation */
};

/* The process that writes the folder: the only one, or rank 0. */
static gboolean
is_writer (const ClipTrainRun *run)
{
  return !run->distributed || run->comm.rank == 0;
}

static void
run_notice (ClipTrainRun *run, const char *format, ...) G_GNUC_PRINTF (2, 3);

static void
run_notice (ClipTrainRun *run, const char *format, ...)
{
  if (run->events.notice == NULL)
    return;
  va_list args;
  va_start (args, format);
  g_autofree char *message = g_strdup_vprintf (format, args);
  va_end (args);
  run->events.notice (message, run->events.callbacks.user_data);
}

char *
clip_train_run_checkpoint_path (const char *out_dir, int64_t step)
{
  g_autofree char *name = g_strdup_printf (CHECKPOINT_PREFIX "%06" G_GINT64_FORMAT CHECKPOINT_SUFFIX, step);
  return g_build_filename (out_dir, name, NULL);
}

char *
clip_train_run_model_path (const char *out_dir)
{
  return g_build_filename (out_dir, MODEL_FILE, NULL);
}

/* The step of a checkpoint file name, or -1 for any other name. */
static int64_t
checkpoint_step (const char *name)
{
  if (!g_str_has_prefix (name, CHECKPOINT_PREFIX) || !g_str_has_suffix (name, CHECKPOINT_SUFFIX))
    return -1;
  size_t len = strlen (name) - strlen (CHECKPOINT_PREFIX) - strlen (CHECKPOINT_SUFFIX);
  g_autofree char *digits = g_strndup (name + strlen (CHECKPOINT_PREFIX), len);
  guint64 step;
  if (len == 0 || !g_ascii_string_to_unsigned (digits, 10, 0, G_MAXINT64, &step, NULL))
    return -1;
  return (int64_t) step;
}

/* An interrupted atomic write leaves "<name>.XXXXXX" beside the file it was replacing. */
static gboolean
is_orphaned_temp (const char *name)
{
  const char *dot = strrchr (name, '.');
  if (dot == NULL || strlen (dot + 1) != 6)
    return FALSE;
  g_autofree char *base = g_strndup (name, dot - name);
  return checkpoint_step (base) >= 0 || g_str_equal (base, MODEL_FILE);
}

typedef struct {
  int64_t step;
  char   *path;
} CheckpointFile;

static void
checkpoint_file_free (gpointer data)
{
  CheckpointFile *file = data;
  g_free (file->path);
  g_free (file);
}

static int
compare_checkpoints_newest_first (gconstpointer a, gconstpointer b)
{
  const CheckpointFile *x = *(CheckpointFile *const *) a, *y = *(CheckpointFile *const *) b;
  return (x->step < y->step) - (x->step > y->step);
}

/* The checkpoints in DIR, newest first. */
static GPtrArray *
list_checkpoints (const char *dir, GError **error)
{
  g_autoptr (GDir) d = g_dir_open (dir, 0, error);
  if (d == NULL)
    return NULL;
  GPtrArray *files = g_ptr_array_new_with_free_func (checkpoint_file_free);
  const char *name;
  while ((name = g_dir_read_name (d)) != NULL)
    {
      int64_t step = checkpoint_step (name);
      if (step < 0)
        continue;
      CheckpointFile *file = g_new (CheckpointFile, 1);
      file->step = step;
      file->path = g_build_filename (dir, name, NULL);
      g_ptr_array_add (files, file);
    }
  g_ptr_array_sort (files, compare_checkpoints_newest_first);
  return files;
}

static void
remove_orphaned_temps (ClipTrainRun *run)
{
  g_autoptr (GDir) d = g_dir_open (run->config.out_dir, 0, NULL);
  const char *name;
  while (d != NULL && (name = g_dir_read_name (d)) != NULL)
    if (is_orphaned_temp (name))
      {
        g_autofree char *path = g_build_filename (run->config.out_dir, name, NULL);
        if (g_unlink (path) == 0)
          run_notice (run, "%s: removed the remains of an interrupted write", path);
      }
}

/* Deletes all but the newest KEEP checkpoints. */
static void
prune_checkpoints (ClipTrainRun *run)
{
  g_autoptr (GPtrArray) files = list_checkpoints (run->config.out_dir, NULL);
  for (guint i = run->config.keep; files != NULL && i < files->len; i++)
    {
      const CheckpointFile *file = g_ptr_array_index (files, i);
      if (g_unlink (file->path) != 0)
        run_notice (run, "%s: cannot delete this old checkpoint: %s", file->path, g_strerror (errno));
    }
}

/* Keeps a second process from training into the same folder. */
static gboolean
lock_out_dir (ClipTrainRun *run, GError **error)
{
  g_autofree char *path = g_build_filename (run->config.out_dir, LOCK_FILE, NULL);
  run->lock_fd = g_open (path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
  if (run->lock_fd < 0)
    {
      int saved = errno;
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_IO, "%s: cannot create the run's lock file: %s", path,
                   g_strerror (saved));
      return FALSE;
    }
  if (flock (run->lock_fd, LOCK_EX | LOCK_NB) != 0)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_IO, "%s: another training run is using this folder",
                   run->config.out_dir);
      return FALSE;
    }
  return TRUE;
}

static int
compare_strings (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

/* Adds the files under DIR (RELATIVE to the data set's folder) to SUM: names and sizes, sorted. */
static void
folder_checksum_add (GChecksum *sum, const char *dir, const char *relative)
{
  g_autoptr (GDir) handle = g_dir_open (dir, 0, NULL);
  if (handle == NULL)
    return;
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  const char *name;
  while ((name = g_dir_read_name (handle)) != NULL)
    g_ptr_array_add (names, g_strdup (name));
  g_ptr_array_sort (names, compare_strings);
  for (guint i = 0; i < names->len; i++)
    {
      g_autofree char *path = g_build_filename (dir, g_ptr_array_index (names, i), NULL);
      g_autofree char *entry = g_build_filename (relative, g_ptr_array_index (names, i), NULL);
      GStatBuf st;
      if (g_stat (path, &st) != 0)
        continue;
      g_autofree char *line = g_strdup_printf ("%s\t%" G_GINT64_FORMAT "\n", entry, (gint64) st.st_size);
      g_checksum_update (sum, (const guchar *) line, -1);
      if (S_ISDIR (st.st_mode))
        folder_checksum_add (sum, path, entry);
    }
}

/* What tells a changed data set when resuming: a file's SHA-256, or for a folder (image folders,
 * WebDataset shards) the SHA-256 of its files' names and sizes. */
static char *
file_sha256 (const char *path, GError **error)
{
  if (g_file_test (path, G_FILE_TEST_IS_DIR))
    {
      g_autoptr (GChecksum) sum = g_checksum_new (G_CHECKSUM_SHA256);
      folder_checksum_add (sum, path, "");
      return g_strdup (g_checksum_get_string (sum));
    }
  int fd = clip_file_open_input (path, CLIP_INPUT_DEFAULT, NULL, error);
  if (fd < 0)
    return NULL;
  g_autoptr (GChecksum) checksum = g_checksum_new (G_CHECKSUM_SHA256);
  guchar chunk[1 << 16];
  for (;;)
    {
      ssize_t n = read (fd, chunk, sizeof chunk);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          int saved = errno;
          close (fd);
          g_set_error (error, CLIP_ERROR, CLIP_ERROR_IO, "%s: cannot read: %s", path, g_strerror (saved));
          return NULL;
        }
      if (n == 0)
        break;
      g_checksum_update (checksum, chunk, n);
    }
  close (fd);
  return g_strdup (g_checksum_get_string (checksum));
}

static ClipTrainRun *
run_alloc (const ClipTrainEvents *events, const ClipCommunicator *comm)
{
  ClipTrainRun *run = g_new0 (ClipTrainRun, 1);
  if (events != NULL)
    run->events = *events;
  if (comm != NULL)
    {
      run->distributed = TRUE;
      run->comm = *comm;
    }
  run->lock_fd = -1;
  run->order_epoch = -1;
  run->expected_n_train = -1;
  return run;
}

void
clip_train_run_free (ClipTrainRun *run)
{
  if (run == NULL)
    return;
  if (run->log != NULL)
    fclose (run->log);
  if (run->lock_fd >= 0)
    close (run->lock_fd);
  g_clear_pointer (&run->train, clip_dataset_free);
  g_clear_pointer (&run->val, clip_dataset_free);
  g_strfreev (run->templates);
  g_clear_pointer (&run->initial, clip_model_free);
  g_clear_pointer (&run->trainer, clip_trainer_free);
  clip_train_run_config_clear (&run->config);
  g_free (run->csv_sha256);
  g_free (run->ids);
  g_free (run->order);
  g_free (run->pixels);
  g_free (run->batch_ids);
  g_free (run->augmented);
  clip_crop_cache_free (run->crops);
  g_clear_error (&run->pending_failure);
  g_clear_error (&run->heartbeat_error);
  g_free (run);
}

/* Reports the entries of DATASET skipped since the first FROM issues. */
static void
report_skipped_rows (ClipTrainRun *run, ClipDataset *dataset, guint from)
{
  GPtrArray *issues = clip_dataset_get_issues (dataset);
  for (guint i = from; i < issues->len; i++)
    {
      g_autofree char *text = clip_dataset_issue_describe (g_ptr_array_index (issues, i));
      run_notice (run, "%s", text);
    }
}

/* The data set at PATH in any format clip_dataset_open reads; SPLIT NULL is DEFAULT_SPLIT. */
static ClipDataset *
load_dataset (ClipTrainRun *run, const char *path, const char *split, const char *default_split, GError **error)
{
  ClipDatasetOptions options;
  clip_dataset_options_init (&options);
  options.image_root = run->config.image_root;
  options.split = split != NULL ? split : default_split;
  ClipDataset *dataset = clip_dataset_open (path, &options, NULL, error);
  if (dataset != NULL)
    report_skipped_rows (run, dataset, 0);
  return dataset;
}

/* The validation set and its zero-shot templates. */
static gboolean
load_validation (ClipTrainRun *run, GError **error)
{
  const ClipTrainRunConfig *c = &run->config;
  if (c->val_csv_path == NULL)
    return TRUE;
  const char *name = c->val_templates != NULL ? c->val_templates : "simple";
  const char *const *builtin = clip_templates_builtin (name, NULL);
  run->templates = builtin != NULL ? g_strdupv ((char **) builtin) : clip_templates_load (name, error);
  if (run->templates == NULL)
    return FALSE;
  run->val = load_dataset (run, c->val_csv_path, c->val_split, "test", error);
  return run->val != NULL;
}

static void
make_absolute (char **path)
{
  char *absolute = g_canonicalize_filename (*path, NULL);
  g_free (*path);
  *path = absolute;
}

/* Makes every path of the configuration absolute, so a checkpoint resumes from any folder. */
static void
config_make_paths_absolute (ClipTrainRunConfig *c)
{
  char **paths[] = { &c->csv_path, &c->image_root, &c->val_csv_path, &c->out_dir, &c->log_json_path, &c->init_model };
  for (size_t i = 0; i < G_N_ELEMENTS (paths); i++)
    if (*paths[i] != NULL)
      make_absolute (paths[i]);
  /* the tokenizer may be the word "bytes", the templates the name of a built-in set */
  if (c->tokenizer != NULL && !g_str_equal (c->tokenizer, "bytes"))
    make_absolute (&c->tokenizer);
  if (c->val_templates != NULL && clip_templates_builtin (c->val_templates, NULL) == NULL)
    make_absolute (&c->val_templates);
}

/* The architecture fields of CONFIG as a model configuration for TOKENIZER. */
static void
config_to_model (const ClipTrainRunConfig *c, const ClipTokenizer *tokenizer, ClipConfig *model)
{
  *model = (ClipConfig) {
    .vision = { c->vision_width, c->vision_layers, c->vision_heads, 4 * c->vision_width, LN_EPS, c->activation },
    .text = { c->text_width, c->text_layers, c->text_heads, 4 * c->text_width, LN_EPS, c->activation },
    .image_size = c->image_size, .patch_size = c->patch_size, .context_length = c->context_length,
    .vocab_size = clip_tokenizer_get_vocab_size (tokenizer), .embed_dim = c->embed_dim,
    .eot_id = clip_tokenizer_get_eot_id (tokenizer),
  };
}

/* The reverse, so the stored configuration describes a fine-tuned model's real architecture. */
static void
config_from_model (ClipTrainRunConfig *c, const ClipConfig *model)
{
  c->vision_width = model->vision.width;
  c->vision_layers = model->vision.layers;
  c->vision_heads = model->vision.heads;
  c->patch_size = model->patch_size;
  c->image_size = model->image_size;
  c->text_width = model->text.width;
  c->text_layers = model->text.layers;
  c->text_heads = model->text.heads;
  c->context_length = model->context_length;
  c->embed_dim = model->embed_dim;
  c->activation = model->vision.activation;
}

static ClipModel *
build_initial_model (ClipTrainRunConfig *config, GError **error)
{
  if (config->init_model != NULL)
    {
      ClipLoadOptions options;
      clip_load_options_init (&options);
      options.tokenizer_path = config->tokenizer;
      g_autoptr (ClipModel) model = clip_model_load (config->init_model, &options, error);
      if (model == NULL)
        return NULL;
      if (clip_model_get_tokenizer (model) == NULL)
        {
          g_set_error (error, CLIP_ERROR, CLIP_ERROR_MISSING, "%s: the model has no tokenizer; name one to "
                       "fine-tune it", config->init_model);
          return NULL;
        }
      config_from_model (config, clip_model_get_config (model));
      return g_steal_pointer (&model);
    }

  g_autoptr (ClipTokenizer) tokenizer = config->tokenizer == NULL ? clip_tokenizer_new_bytes ()
                                                                   : clip_tokenizer_load (config->tokenizer, error);
  if (tokenizer == NULL)
    return NULL;
  if (config->vision_heads == 0)
    config->vision_heads = MAX (1, config->vision_width / 64);
  ClipConfig model_config;
  config_to_model (config, tokenizer, &model_config);
  ClipPreprocess pre;
  clip_preprocess_init_default (&pre);
  pre.image_size = config->image_size;
  return clip_model_new_random (&model_config, &pre, tokenizer, config->seed, error);
}

ClipTrainRun *
clip_train_run_new (const ClipTrainRunConfig *config, const ClipTrainEvents *events,
                    GError **error)
{
  return clip_train_run_new_distributed (config, events, NULL, error);
}

/* The output folder of a new run: created, writable, locked and without a run in it. */
static gboolean
claim_out_dir (ClipTrainRun *run, GError **error)
{
  ClipTrainRunConfig *c = &run->config;
  if (g_mkdir_with_parents (c->out_dir, 0777) != 0)
    {
      int saved = errno;
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_IO, "%s: cannot create the output folder: %s", c->out_dir,
                   g_strerror (saved));
      return FALSE;
    }
  if (g_access (c->out_dir, W_OK) != 0)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_IO, "%s: the output folder is not writable", c->out_dir);
      return FALSE;
    }
  if (!lock_out_dir (run, error))
    return FALSE;
  g_autoptr (GPtrArray) existing = list_checkpoints (c->out_dir, error);
  if (existing == NULL)
    return FALSE;
  if (existing->len > 0)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_INVALID, "%s: this folder already holds a training run (%s); "
                   "resume it or train into another folder", c->out_dir,
                   ((CheckpointFile *) g_ptr_array_index (existing, 0))->path);
      return FALSE;
    }
  return TRUE;
}

ClipTrainRun *
clip_train_run_new_distributed (const ClipTrainRunConfig *config, const ClipTrainEvents *events,
                                const ClipCommunicator *comm, GError **error)
{
  if (!config_validate (config, error))
    return NULL;
  if (comm != NULL && config->batch_size % comm->size != 0)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_INVALID, "--batch-size %d is the global batch: it must be a "
                   "multiple of the %d ranks", config->batch_size, comm->size);
      return NULL;
    }
  g_autoptr (ClipTrainRun) run = run_alloc (events, comm);
  clip_train_run_config_copy (config, &run->config);
  ClipTrainRunConfig *c = &run->config;
  config_make_paths_absolute (c);
  if (is_writer (run) && !claim_out_dir (run, error))
    return NULL;

  run->csv_sha256 = file_sha256 (c->csv_path, error);
  if (run->csv_sha256 == NULL)
    return NULL;
  run->train = load_dataset (run, c->csv_path, c->split, "train", error);
  if (run->train == NULL)
    return NULL;
  if (!load_validation (run, error))
    return NULL;
  run->initial = build_initial_model (c, error);
  if (run->initial == NULL)
    return NULL;
  return g_steal_pointer (&run);
}

/* ------------------------------------------------------------------ resuming */

/* {"version", "step", "epoch", "position", "steps_per_epoch", "n_train", "csv_sha256", "threads"}:
 * epoch and position (in batches) are where the next step's batch comes from. */
static char *
state_to_json (const ClipTrainRun *run)
{
  int64_t step = clip_trainer_get_step (run->trainer);
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  const struct { const char *key; int64_t value; } ints[] = {
    { "version", RUN_FORMAT_VERSION }, { "step", step }, { "epoch", step / run->steps_per_epoch },
    { "position", step % run->steps_per_epoch }, { "steps_per_epoch", run->steps_per_epoch },
    { "total_steps", run->total_steps }, { "n_train", run->n_train }, { "threads", clip_get_threads () },
  };
  for (size_t i = 0; i < G_N_ELEMENTS (ints); i++)
    {
      json_builder_set_member_name (b, ints[i].key);
      json_builder_add_int_value (b, ints[i].value);
    }
  json_builder_set_member_name (b, "csv_sha256");
  json_builder_add_string_value (b, run->csv_sha256);
  json_builder_set_member_name (b, "generators");
  json_builder_add_string_value (b, "GRand seeded with (seed, epoch) for the order and (seed, step) for "
                                    "augmentation");
  json_builder_end_object (b);
  g_autoptr (JsonNode) root = json_builder_get_root (b);
  return json_to_string (root, FALSE);
}

typedef struct {
  int64_t step, n_train, threads;
  char   *csv_sha256;
} RunState;

static gboolean
state_from_json (const char *json, const char *label, RunState *state, GError **error)
{
  g_autoptr (JsonNode) root = clip_json_parse (json, strlen (json), label, TRUE, error);
  if (root == NULL)
    return FALSE;
  JsonObject *obj = JSON_NODE_HOLDS_OBJECT (root) ? json_node_get_object (root) : NULL;
  const char *sha = NULL;
  int version = 0, n_train = -1, threads = 0, step = -1;
  if (obj == NULL || !clip_json_get_int (obj, "version", 0, G_MAXINT, &version, label, error)
      || !clip_json_get_int (obj, "n_train", 1, G_MAXINT, &n_train, label, error)
      || !clip_json_get_int (obj, "threads", 0, G_MAXINT, &threads, label, error)
      || !clip_json_get_int (obj, "step", 0, G_MAXINT, &step, label, error)
      || !clip_json_get_string (obj, "csv_sha256", &sha, label, error))
    {
      if (error != NULL && *error == NULL)
        g_set_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT, "%s: metadata \"%s\" is not a JSON object", label,
                     RUN_STATE_KEY);
      return FALSE;
    }
  if (version != RUN_FORMAT_VERSION || n_train < 1 || sha == NULL || step < 0)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT, "%s: metadata \"%s\" lacks its version (%d is read), "
                   "step, n_train or csv_sha256", label, RUN_STATE_KEY, RUN_FORMAT_VERSION);
      return FALSE;
    }
  *state = (RunState) { .step = step, .n_train = n_train, .threads = threads, .csv_sha256 = g_strdup (sha) };
  return TRUE;
}

/* Loads one checkpoint of a run: the trainer, the configuration and the data position. */
static ClipTrainer *
load_checkpoint (const char *path, ClipTrainRunConfig *config, RunState *state, GError **error)
{
  g_autoptr (GHashTable) metadata = NULL;
  g_autoptr (ClipTrainer) trainer = clip_trainer_load (path, &metadata, error);
  if (trainer == NULL)
    return NULL;
  const char *config_json = g_hash_table_lookup (metadata, RUN_CONFIG_KEY);
  const char *state_json = g_hash_table_lookup (metadata, RUN_STATE_KEY);
  if (config_json == NULL || state_json == NULL)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_MISSING, "%s: a trainer checkpoint without the run's metadata "
                   "(\"%s\", \"%s\"); start a new run with it as the initial model instead", path, RUN_CONFIG_KEY,
                   RUN_STATE_KEY);
      return NULL;
    }
  if (!state_from_json (state_json, path, state, error))
    return NULL;
  if (state->step != clip_trainer_get_step (trainer))
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT, "%s: the run's metadata is at step %" G_GINT64_FORMAT
                   " but the optimizer at step %" G_GINT64_FORMAT, path, state->step, clip_trainer_get_step (trainer));
      g_clear_pointer (&state->csv_sha256, g_free);
      return NULL;
    }
  if (!config_from_json (config_json, path, config, error))
    {
      g_clear_pointer (&state->csv_sha256, g_free);
      return NULL;
    }
  return g_steal_pointer (&trainer);
}

typedef struct {
  int64_t  max_step;
  GString *kept;
  gboolean dropped;
} LogFilter;

/* Keeps the log lines of steps up to the checkpoint's: a resumed run writes the others again. */
static gboolean
log_truncate_after (const char *path, int64_t max_step, GError **error)
{
  g_autofree char *contents = NULL;
  gsize length;
  GError *local_error = NULL;
  if (!clip_file_read_contents (path, CLIP_INPUT_MISSING_CODE, G_MAXUINT32 - 1, &contents, &length, &local_error))
    {
      if (g_error_matches (local_error, CLIP_ERROR, CLIP_ERROR_MISSING))
        {
          g_error_free (local_error);
          return TRUE;
        }
      g_propagate_error (error, local_error);
      return FALSE;
    }
  g_autoptr (GString) kept = g_string_new (NULL);
  gboolean dropped = FALSE;
  char *line = contents, *end = contents + length;
  while (line < end)
    {
      char *newline = memchr (line, '\n', end - line);
      if (newline == NULL)
        {
          dropped = TRUE;   /* a line cut short by a crash */
          break;
        }
      g_autoptr (JsonNode) node = clip_json_parse (line, newline - line, path, FALSE, NULL);
      JsonObject *obj = node != NULL && JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
      JsonNode *step = obj != NULL ? json_object_get_member (obj, "step") : NULL;
      if (step != NULL && JSON_NODE_HOLDS_VALUE (step) && json_node_get_value_type (step) == G_TYPE_INT64
          && json_node_get_int (step) <= max_step)
        g_string_append_len (kept, line, newline + 1 - line);
      else
        dropped = TRUE;
      line = newline + 1;
    }
  if (!dropped)
    return TRUE;
  return g_file_set_contents_full (path, kept->str, kept->len,
                                   G_FILE_SET_CONTENTS_CONSISTENT | G_FILE_SET_CONTENTS_DURABLE, 0666, error);
}

ClipTrainRun *
clip_train_run_resume (const char *dir, const ClipTrainEvents *events, GError **error)
{
  return clip_train_run_resume_distributed (dir, events, NULL, error);
}

ClipTrainRun *
clip_train_run_resume_distributed (const char *dir, const ClipTrainEvents *events, const ClipCommunicator *comm,
                                   GError **error)
{
  g_autoptr (ClipTrainRun) run = run_alloc (events, comm);
  g_autofree char *out_dir = g_canonicalize_filename (dir, NULL);
  g_autoptr (GPtrArray) files = list_checkpoints (out_dir, error);
  if (files == NULL)
    return NULL;
  if (files->len == 0)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_MISSING, "%s: no %s*%s file to resume from", out_dir,
                   CHECKPOINT_PREFIX, CHECKPOINT_SUFFIX);
      return NULL;
    }
  RunState state = { 0 };
  for (guint i = 0; i < files->len && run->trainer == NULL; i++)
    {
      const CheckpointFile *file = g_ptr_array_index (files, i);
      g_autoptr (GError) local_error = NULL;
      ClipTrainRunConfig config;
      run->trainer = load_checkpoint (file->path, &config, &state, &local_error);
      if (run->trainer != NULL)
        run->config = config;
      else if (i + 1 < files->len)
        run_notice (run, "passing over a checkpoint that does not load: %s", local_error->message);
      else
        {
          g_propagate_prefixed_error (error, g_steal_pointer (&local_error), "%s: no checkpoint loads; the "
                                      "oldest fails with: ", out_dir);
          return NULL;
        }
    }
  ClipTrainRunConfig *c = &run->config;
  g_free (c->out_dir);
  c->out_dir = g_steal_pointer (&out_dir);
  run->resumed = TRUE;
  run->expected_n_train = (int) state.n_train;
  run->last_saved_step = state.step;
  run->csv_sha256 = file_sha256 (c->csv_path, error);
  gboolean same_data = run->csv_sha256 != NULL && g_str_equal (run->csv_sha256, state.csv_sha256);
  g_free (state.csv_sha256);
  if (run->csv_sha256 == NULL)
    return NULL;
  if (!same_data)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_INVALID, "%s: the data set changed since the checkpoint was "
                   "written; resuming would not continue the same run", c->csv_path);
      return NULL;
    }
  if (state.threads != clip_get_threads ())
    run_notice (run, "the run used %d threads and continues with %d: losses may differ in their last digits "
                "from an uninterrupted run", (int) state.threads, clip_get_threads ());
  if (run->distributed && c->batch_size % comm->size != 0)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_INVALID, "%s: the run's global batch of %d pairs cannot be "
                   "shared by %d ranks", c->out_dir, c->batch_size, comm->size);
      return NULL;
    }
  if (is_writer (run) && !lock_out_dir (run, error))
    return NULL;
  run->train = load_dataset (run, c->csv_path, c->split, "train", error);
  if (run->train == NULL)
    return NULL;
  if (!load_validation (run, error))
    return NULL;
  if (is_writer (run) && c->log_json_path != NULL && !log_truncate_after (c->log_json_path, state.step, error))
    return NULL;
  return g_steal_pointer (&run);
}

gboolean
clip_train_run_read_config (const char *dir, ClipTrainRunConfig *config, GError **error)
{
  g_autoptr (GPtrArray) files = list_checkpoints (dir, error);
  if (files == NULL)
    return FALSE;
  g_autoptr (GError) last_error = NULL;
  for (guint i = 0; i < files->len; i++)
    {
      const CheckpointFile *file = g_ptr_array_index (files, i);
      g_clear_error (&last_error);
      g_autoptr (ClipSafetensors) st = clip_safetensors_open (file->path, &last_error);
      const char *json = st != NULL ? clip_safetensors_metadata (st, RUN_CONFIG_KEY) : NULL;
      if (st != NULL && json == NULL)
        g_set_error (&last_error, CLIP_ERROR, CLIP_ERROR_MISSING, "%s: a checkpoint without the run's "
                     "configuration (\"%s\")", file->path, RUN_CONFIG_KEY);
      if (json != NULL && config_from_json (json, file->path, config, &last_error))
        return TRUE;
    }
  if (last_error != NULL)
    g_propagate_error (error, g_steal_pointer (&last_error));
  else
    g_set_error (error, CLIP_ERROR, CLIP_ERROR_MISSING, "%s: no %s*%s file", dir, CHECKPOINT_PREFIX,
                 CHECKPOINT_SUFFIX);
  return FALSE;
}

/* ------------------------------------------------------------------ preparation */

/* The run's callbacks, with progress reported under the run's own name for the phase (WHAT).  ALONE:
 * rank 0 of a data-parallel run works while the others wait (validation), and tells them it is
 * alive at most every HEARTBEAT_S from the abort poll (each layer of the model, each image decoded),
 * on the thread that drives MPI; a heartbeat that fails stops the work. */
typedef struct {
  ClipTrainRun *run;
  const char   *what;
  gboolean      alone;
} ProgressContext;

static void
forward_progress (const char *what, int64_t done, int64_t total, gpointer user_data)
{
  ProgressContext *ctx = user_data;
  clip_callbacks_progress (&ctx->run->events.callbacks, ctx->what, done, total);
}

static gboolean
forward_abort (gpointer user_data)
{
  ProgressContext *ctx = user_data;
  ClipTrainRun *run = ctx->run;
  gint64 now = g_get_monotonic_time ();
  if (ctx->alone && run->heartbeat_error == NULL && now - run->last_heartbeat >= HEARTBEAT_S * G_USEC_PER_SEC)
    {
      gboolean root_busy;
      clip_dist_heartbeat (&run->comm, TRUE, &root_busy, &run->heartbeat_error);
      run->last_heartbeat = now;
    }
  return run->heartbeat_error != NULL || clip_callbacks_aborted (&run->events.callbacks);
}

/* After work that rank 0 of a data-parallel run did ALONE (or skipped, having failed before it):
 * rank 0 says it is done, the others wait for that through its heartbeats.  A heartbeat that failed
 * during the work is the error. */
static gboolean
run_wait_for_rank0 (ClipTrainRun *run, GError **error)
{
  if (!run->distributed)
    return TRUE;
  if (run->heartbeat_error != NULL)
    {
      g_propagate_error (error, g_steal_pointer (&run->heartbeat_error));
      return FALSE;
    }
  gboolean root_busy = FALSE;
  do
    if (!clip_dist_heartbeat (&run->comm, FALSE, &root_busy, error))
      return FALSE;
  while (root_busy && !is_writer (run));
  return TRUE;
}

static gboolean
prepare_dataset (ClipTrainRun *run, ClipDataset *dataset, const char *what, gboolean alone, GError **error)
{
  ProgressContext ctx = { run, what, alone };
  run->last_heartbeat = g_get_monotonic_time ();
  const ClipCallbacks callbacks = { forward_progress, forward_abort, &ctx };
  guint n_issues = clip_dataset_get_issues (dataset)->len;
  if (!clip_dataset_prepare_images (dataset, run->config.image_size, FALSE, CROPS_MEMORY_LIMIT,
                                    run->config.out_dir, &callbacks, error))
    return FALSE;
  report_skipped_rows (run, dataset, n_issues);
  uint64_t cached = clip_dataset_get_cache_bytes (dataset);
  if (cached > 0)
    run_notice (run, "%s: the decoded images take %.1f GB, more than the %.0f GB kept in memory: they are in a "
                "cache file in %s (removed when the run ends)", clip_dataset_get_path (dataset), cached / 1e9,
                CROPS_MEMORY_LIMIT / 1e9, run->config.out_dir);
  return TRUE;
}

/* The steps per epoch and in all, and the warmup, from the usable pairs (which a resumed run must
 * still have); the trainer is made with them unless a checkpoint gave it. */
static gboolean
run_fix_schedule (ClipTrainRun *run, GError **error)
{
  ClipTrainRunConfig *c = &run->config;
  run->n_train = clip_dataset_get_size (run->train);
  if (run->n_train < 2)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_INVALID, "%s: %d usable pairs: training needs at least 2",
                   c->csv_path, run->n_train);
      return FALSE;
    }
  /* A data-parallel batch stays a multiple of the ranks. */
  int ranks = run->distributed ? run->comm.size : 1;
  int fitted = run->n_train - run->n_train % ranks;
  if (c->fit_batch_size && run->n_train < c->batch_size && fitted >= 2)
    {
      if (fitted == run->n_train)
        run_notice (run, "%s: batches of %d, all the usable pairs, instead of %d", c->csv_path, fitted, c->batch_size);
      else
        run_notice (run, "%s: batches of %d of the %d usable pairs (a multiple of the %d ranks) instead of %d",
                    c->csv_path, fitted, run->n_train, ranks, c->batch_size);
      c->batch_size = fitted;
    }
  run->steps_per_epoch = run->n_train / c->batch_size;
  if (run->steps_per_epoch == 0)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_INVALID, "%s: %d usable pairs do not fill one batch of %d: "
                   "choose a batch size of at most %d", c->csv_path, run->n_train, c->batch_size, run->n_train);
      return FALSE;
    }
  if (run->resumed && run->n_train != run->expected_n_train)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_INVALID, "%s: %d usable pairs, but the run was trained on %d; "
                   "resuming would not continue the same run (an image changed or became unreadable)",
                   c->csv_path, run->n_train, run->expected_n_train);
      return FALSE;
    }
  if (c->max_steps > 0)
    run->total_steps = c->max_steps;
  else if (c->epochs > G_MAXINT64 / run->steps_per_epoch)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_LIMIT, "training: %d epochs of %" G_GINT64_FORMAT " steps is "
                   "too many steps", c->epochs, run->steps_per_epoch);
      return FALSE;
    }
  else
    run->total_steps = run->steps_per_epoch * c->epochs;
  if (c->warmup_steps < 0)
    c->warmup_steps = run->total_steps / 20;
  if (c->warmup_steps > run->total_steps)
    {
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_INVALID, "training: %" G_GINT64_FORMAT " warmup steps exceed the "
                   "%" G_GINT64_FORMAT " steps of the run", c->warmup_steps, run->total_steps);
      return FALSE;
    }
  if (run->trainer != NULL)
    return TRUE;
  ClipOptimConfig optim;
  clip_optim_config_init (&optim);
  optim.lr = c->lr;
  optim.weight_decay = c->weight_decay;
  optim.grad_clip = c->grad_clip;
  optim.warmup_steps = c->warmup_steps;
  optim.total_steps = run->total_steps;
  run->trainer = clip_trainer_new (run->initial, &optim, error);
  if (run->trainer == NULL)
    return FALSE;
  g_clear_pointer (&run->initial, clip_model_free);
  return TRUE;
}

/* The captions' token ids, once, and the buffers batches are assembled in. */
static void
run_alloc_batches (ClipTrainRun *run)
{
  const ClipTrainRunConfig *c = &run->config;
  ClipModel *model = clip_trainer_get_model (run->trainer);
  int ctx = clip_model_get_config (model)->context_length, size = c->image_size;
  ClipTokenizer *tokenizer = clip_model_get_tokenizer (model);
  run->ids = g_new (int32_t, (size_t) run->n_train * ctx);
  for (int i = 0; i < run->n_train; i++)
    clip_tokenizer_encode (tokenizer, clip_dataset_get_caption (run->train, i), ctx, run->ids + (size_t) i * ctx);
  int share = run->distributed ? c->batch_size / run->comm.size : c->batch_size;
  run->order = g_new (int, run->n_train);
  run->pixels = g_new (float, (size_t) share * 3 * size * size);
  run->batch_ids = g_new (int32_t, (size_t) share * ctx);
  run->augmented = g_new (uint8_t, (size_t) size * size * 3);
}

/* A new run starts a new log; a resumed one continues it (already cut back to its checkpoint). */
static gboolean
run_open_log (ClipTrainRun *run, GError **error)
{
  const char *path = run->config.log_json_path;
  if (path == NULL)
    return TRUE;
  run->log = g_fopen (path, run->resumed ? "ae" : "we");
  if (run->log != NULL)
    return TRUE;
  int saved = errno;
  g_set_error (error, CLIP_ERROR, CLIP_ERROR_IO, "%s: cannot open the log: %s", path, g_strerror (saved));
  return FALSE;
}

/* Decodes the validation images: in a data-parallel run rank 0 alone, which validates, while the
 * others wait (also when it fails: all learn of it at the agreement that follows). */
static gboolean
run_prepare_validation (ClipTrainRun *run, GError **error)
{
  run->validates = run->val != NULL;
  if (!is_writer (run))
    g_clear_pointer (&run->val, clip_dataset_free);
  GError *local_error = NULL;
  if (run->val != NULL)
    prepare_dataset (run, run->val, "Decoding the validation images", run->distributed, &local_error);
  GError *wait_error = NULL;
  if (run->validates && !run_wait_for_rank0 (run, &wait_error))
    {
      if (local_error == NULL)
        local_error = wait_error;
      else
        g_error_free (wait_error);
    }
  if (local_error != NULL)
    {
      g_propagate_error (error, local_error);
      return FALSE;
    }
  return TRUE;
}

/* Decodes the images, fixes the schedule, tokenizes the captions and opens the log: once per run. */
static gboolean
run_prepare (ClipTrainRun *run, GError **error)
{
  ClipTrainRunConfig *c = &run->config;
  if (run->distributed && clip_dataset_get_image_path (run->train, 0) == NULL)
    {
      /* Each rank decodes the image files of its shares; shards would have to be streamed by all. */
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_UNSUPPORTED, "%s: data-parallel training reads image files; "
                   "train on WebDataset shards in one process", c->csv_path);
      return FALSE;
    }
  if (run->distributed)
    run->crops = clip_crop_cache_new (run->train, c->image_size, CROPS_MEMORY_LIMIT);
  else if (!prepare_dataset (run, run->train, "Decoding the training images", FALSE, error))
    return FALSE;
  if (!run_prepare_validation (run, error))
    return FALSE;
  if (!run_fix_schedule (run, error))
    return FALSE;
  if (run->distributed)
    clip_trainer_set_communicator (run->trainer, &run->comm);
  run_alloc_batches (run);
  if (is_writer (run))
    {
      remove_orphaned_temps (run);
      if (!run_open_log (run, error))
        return FALSE;
    }
  run->prepared = TRUE;
  return TRUE;
}

/* run_prepare on every rank of a data-parallel run, which then agree that all of them are ready at
 * the same step. */
static gboolean
run_prepare_everywhere (ClipTrainRun *run, GError **error)
{
  if (!run->distributed)
    return run_prepare (run, error);
  g_autoptr (GError) local_failure = NULL;
  run_prepare (run, &local_failure);
  return clip_communicator_agree (&run->comm, local_failure, error)
         && clip_dist_check_same (&run->comm, clip_trainer_get_step (run->trainer), "the step the run is at", error)
         && clip_dist_check_same (&run->comm, run->n_train, "the number of training pairs", error);
}

/* ------------------------------------------------------------------ batches */

/* The order of EPOCH: the CSV's, or a Fisher-Yates shuffle drawn from (seed, epoch). */
static void
ensure_order (ClipTrainRun *run, int64_t epoch)
{
  if (run->order_epoch == epoch)
    return;
  for (int i = 0; i < run->n_train; i++)
    run->order[i] = i;
  if (run->config.shuffle)
    {
      guint32 seed[] = { (guint32) run->config.seed, (guint32) (run->config.seed >> 32), (guint32) epoch,
                         (guint32) ((uint64_t) epoch >> 32), SHUFFLE_STREAM };
      g_autoptr (GRand) rand = g_rand_new_with_seed_array (seed, G_N_ELEMENTS (seed));
      for (int i = run->n_train - 1; i > 0; i--)
        {
          int j = g_rand_int_range (rand, 0, i + 1);
          int t = run->order[i];
          run->order[i] = run->order[j];
          run->order[j] = t;
        }
    }
  run->order_epoch = epoch;
}

/* The augmentation of one pair: a random resized crop on the prepared crop (a square of 90-100 %
 * of its area at a random place, resized back to SIZE with the preprocessing's bicubic) and a
 * left-right mirror with probability 1/2, each when the run asks for it.  The draws are the crop's
 * then the mirror's, so runs without the mirror draw what they drew before it existed. */
typedef struct {
  gboolean crop;
  int side, x, y;
  gboolean mirror;
} Augmentation;

static Augmentation
augment_draw (const ClipTrainRunConfig *c, GRand *rand)
{
  int size = c->image_size;
  Augmentation a = { .crop = c->augment, .side = size };
  if (c->augment)
    {
      double area = g_rand_double_range (rand, 0.9, 1.0);
      a.side = CLAMP ((int) lround (size * sqrt (area)), 1, size);
      a.x = g_rand_int_range (rand, 0, size - a.side + 1);
      a.y = g_rand_int_range (rand, 0, size - a.side + 1);
    }
  if (c->augment_flip)
    a.mirror = g_rand_boolean (rand);
  return a;
}

/* CROP (SIZE² × 3) augmented as A into OUT, which may not be CROP; FALSE: A leaves CROP as it is. */
static gboolean
augment_apply (const uint8_t *crop, int size, const Augmentation *a, uint8_t *out)
{
  if (!a->crop && !a->mirror)
    return FALSE;
  if (a->crop)
    {
      g_autoptr (ClipImage) region = clip_image_new (a->side, a->side);
      for (int row = 0; row < a->side; row++)
        memcpy (region->pixels + (size_t) row * a->side * 3, crop + ((size_t) (a->y + row) * size + a->x) * 3,
                (size_t) a->side * 3);
      clip_image_resize_crop (region, size, out);
    }
  else
    memcpy (out, crop, (size_t) size * size * 3);
  if (a->mirror)
    for (int row = 0; row < size; row++)
      {
        uint8_t *left = out + (size_t) row * size * 3, *right = left + (size_t) (size - 1) * 3;
        for (; left < right; left += 3, right -= 3)
          for (int k = 0; k < 3; k++)
            {
              uint8_t t = left[k];
              left[k] = right[k];
              right[k] = t;
            }
      }
  return TRUE;
}

/* The pixels and token ids of the batch of step STEP (0-based): all of it, or this rank's share,
 * with the augmentation the pair has in the whole batch. */
static gboolean
fill_batch (ClipTrainRun *run, int64_t step, GError **error)
{
  const ClipTrainRunConfig *c = &run->config;
  ClipModel *model = clip_trainer_get_model (run->trainer);
  const ClipPreprocess *pre = clip_model_get_preprocess (model);
  int ctx = clip_model_get_config (model)->context_length, size = c->image_size;
  size_t image_floats = (size_t) 3 * size * size;
  ensure_order (run, step / run->steps_per_epoch);
  int share = run->distributed ? c->batch_size / run->comm.size : c->batch_size;
  int own = run->distributed ? run->comm.rank * share : 0;
  int64_t first = (step % run->steps_per_epoch) * c->batch_size + own;
  g_autoptr (GRand) rand = NULL;
  if (c->augment || c->augment_flip)
    {
      guint32 seed[] = { (guint32) c->seed, (guint32) (c->seed >> 32), (guint32) step,
                         (guint32) ((uint64_t) step >> 32), AUGMENT_STREAM };
      rand = g_rand_new_with_seed_array (seed, G_N_ELEMENTS (seed));
      for (int b = 0; b < own; b++)
        augment_draw (c, rand);  /* the draws of the lower ranks' pairs */
    }
  for (int b = 0; b < share; b++)
    {
      int index = run->order[first + b];
      const uint8_t *crop = run->crops != NULL ? clip_crop_cache_get (run->crops, index, error)
                                               : clip_dataset_get_crop (run->train, index);
      if (crop == NULL)
        return FALSE;
      if (rand != NULL)
        {
          Augmentation a = augment_draw (c, rand);
          if (augment_apply (crop, size, &a, run->augmented))
            crop = run->augmented;
        }
      clip_image_normalize (crop, pre, run->pixels + b * image_floats);
      memcpy (run->batch_ids + (size_t) b * ctx, run->ids + (size_t) index * ctx, sizeof (int32_t) * ctx);
    }
  return TRUE;
}

/* ------------------------------------------------------------------ log, validation, checkpoints */

static gboolean
log_write (ClipTrainRun *run, JsonBuilder *b, GError **error)
{
  g_autoptr (JsonNode) root = json_builder_get_root (b);
  g_autofree char *line = json_to_string (root, FALSE);
  if (fputs (line, run->log) < 0 || fputc ('\n', run->log) < 0 || fflush (run->log) != 0)
    {
      int saved = errno;
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_IO, "%s: cannot write the log: %s", run->config.log_json_path,
                   g_strerror (saved));
      return FALSE;
    }
  return TRUE;
}

static gboolean
log_step (ClipTrainRun *run, const ClipTrainStepReport *r, GError **error)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "step");
  json_builder_add_int_value (b, r->stats.step);
  json_builder_set_member_name (b, "epoch");
  json_builder_add_int_value (b, r->epoch);
  const struct { const char *key; double value; } values[] = {
    { "loss", r->stats.loss }, { "lr", r->stats.lr }, { "logit_scale", r->stats.logit_scale },
    { "grad_norm", r->stats.grad_norm }, { "images_per_s", r->images_per_s },
  };
  for (size_t i = 0; i < G_N_ELEMENTS (values); i++)
    {
      json_builder_set_member_name (b, values[i].key);
      json_builder_add_double_value (b, values[i].value);
    }
  json_builder_end_object (b);
  return log_write (run, b, error);
}

static gboolean
log_validation (ClipTrainRun *run, const ClipTrainValidation *v, GError **error)
{
  g_autoptr (JsonBuilder) b = json_builder_new ();
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "step");
  json_builder_add_int_value (b, v->step);
  json_builder_set_member_name (b, "epoch");
  json_builder_add_int_value (b, v->epoch);
  json_builder_set_member_name (b, "validation");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "n");
  json_builder_add_int_value (b, clip_dataset_get_size (run->val));
  clip_json_add_retrieval (b, &v->retrieval);
  if (v->has_zero_shot)
    {
      clip_json_begin_zero_shot (b, v->zero_shot_top1, v->zero_shot_top5);
      json_builder_end_object (b);
    }
  json_builder_end_object (b);
  json_builder_end_object (b);
  return log_write (run, b, error);
}

static gboolean
run_validate (ClipTrainRun *run, int64_t step, GError **error)
{
  ClipTrainValidation v = { .step = step, .epoch = (step - 1) / run->steps_per_epoch + 1,
                            .has_zero_shot = clip_dataset_get_n_labels (run->val) > 0 };
  ClipZeroShotMetrics zero_shot = { 0 };
  ProgressContext ctx = { run, "Validating", run->distributed };
  const ClipCallbacks callbacks = { forward_progress, forward_abort, &ctx };
  run->last_heartbeat = g_get_monotonic_time ();
  if (!clip_evaluate_dataset (clip_trainer_get_model (run->trainer), run->val,
                              (const char *const *) run->templates, g_strv_length (run->templates), NULL, 0,
                              VALIDATION_BATCH, &v.retrieval, v.has_zero_shot ? &zero_shot : NULL, &callbacks, error))
    return FALSE;
  v.zero_shot_top1 = zero_shot.top1;
  v.zero_shot_top5 = zero_shot.top5;
  clip_zero_shot_metrics_clear (&zero_shot);
  if (run->log != NULL && !log_validation (run, &v, error))
    return FALSE;
  if (run->events.validation != NULL)
    run->events.validation (&v, run->events.callbacks.user_data);
  return TRUE;
}

/* Makes the log durable up to this step, then writes the checkpoint and prunes the old ones. */
static gboolean
run_save_checkpoint (ClipTrainRun *run, GError **error)
{
  int64_t step = clip_trainer_get_step (run->trainer);
  if (run->log != NULL && fsync (fileno (run->log)) != 0)
    {
      int saved = errno;
      g_set_error (error, CLIP_ERROR, CLIP_ERROR_IO, "%s: cannot write the log: %s", run->config.log_json_path,
                   g_strerror (saved));
      return FALSE;
    }
  g_autofree char *config_json = config_to_json (&run->config);
  g_autofree char *state_json = state_to_json (run);
  g_autoptr (GHashTable) metadata = g_hash_table_new (g_str_hash, g_str_equal);
  g_hash_table_insert (metadata, RUN_CONFIG_KEY, config_json);
  g_hash_table_insert (metadata, RUN_STATE_KEY, state_json);
  g_autofree char *path = clip_train_run_checkpoint_path (run->config.out_dir, step);
  if (!clip_trainer_save (run->trainer, path, metadata, error))
    return FALSE;
  run->last_saved_step = step;
  prune_checkpoints (run);
  if (run->events.checkpoint != NULL)
    run->events.checkpoint (path, step, run->events.callbacks.user_data);
  return TRUE;
}

/* An abort: the steps so far are saved before the run reports it. */
static gboolean
run_stop (ClipTrainRun *run, GError *abort_error, GError **error)
{
  GError *save_error = NULL;
  if (is_writer (run) && clip_trainer_get_step (run->trainer) != run->last_saved_step
      && !run_save_checkpoint (run, &save_error))
    {
      g_propagate_prefixed_error (error, save_error, "stopped, but the checkpoint was not saved: ");
      g_error_free (abort_error);
      return FALSE;
    }
  g_propagate_error (error, abort_error);
  return FALSE;
}

/* Ends the run with FAILURE, which every rank has (it was agreed on, or the run is a single process):
 * an abort saves the steps so far first. */
static gboolean
run_fail (ClipTrainRun *run, GError *failure, GError **error)
{
  if (g_error_matches (failure, CLIP_ERROR, CLIP_ERROR_ABORTED))
    return run_stop (run, failure, error);
  g_propagate_error (error, failure);
  return FALSE;
}

/* Where a rank may have failed alone (its images, rank 0's log or checkpoint), the ranks agree before
 * the next collective; a single process has nothing to agree on.  Takes LOCAL_FAILURE. */
static gboolean
run_agree (ClipTrainRun *run, GError *local_failure, GError **error)
{
  if (run->pending_failure != NULL && local_failure == NULL)
    local_failure = g_steal_pointer (&run->pending_failure);
  if (!run->distributed)
    {
      if (local_failure == NULL)
        return TRUE;
      g_propagate_error (error, local_failure);
      return FALSE;
    }
  gboolean agreed = clip_communicator_agree (&run->comm, local_failure, error);
  g_clear_error (&local_failure);
  return agreed;
}

/* Validation after the last step of each epoch and of the run. */
static gboolean
validation_due (const ClipTrainRun *run, int64_t step)
{
  return run->validates && (step % run->steps_per_epoch == 0 || step == run->total_steps);
}

/* The log, the events, validation and checkpoints after a step: rank 0's work. */
static gboolean
run_after_step (ClipTrainRun *run, const ClipTrainStepReport *report, GError **error)
{
  const ClipTrainRunConfig *c = &run->config;
  int64_t step = report->stats.step;
  if (run->log != NULL && !log_step (run, report, error))
    return FALSE;
  if (run->events.step != NULL)
    run->events.step (report, run->events.callbacks.user_data);
  gboolean last = step == run->total_steps;
  if (run->val != NULL && validation_due (run, step) && !run_validate (run, step, error))
    return FALSE;
  if (is_writer (run) && ((c->save_every > 0 && step % c->save_every == 0) || last))
    return run_save_checkpoint (run, error);
  return TRUE;
}

/* ------------------------------------------------------------------ the loop */

gboolean
clip_train_run_run (ClipTrainRun *run, GError **error)
{
  if (!run->prepared && !run_prepare_everywhere (run, error))
    return FALSE;
  const ClipTrainRunConfig *c = &run->config;
  ClipTrainer *trainer = run->trainer;
  int share = run->distributed ? c->batch_size / run->comm.size : c->batch_size;

  for (int64_t step = clip_trainer_get_step (trainer); step < run->total_steps; step = clip_trainer_get_step (trainer))
    {
      GError *local_error = NULL, *agreed_error = NULL;
      int64_t start = g_get_monotonic_time ();
      if (clip_callbacks_check_abort (&run->events.callbacks, &local_error))
        fill_batch (run, step, &local_error);
      if (!run_agree (run, g_steal_pointer (&local_error), &agreed_error))
        return run_fail (run, agreed_error, error);
      ClipStepStats stats;
      if (!clip_trainer_step (trainer, run->pixels, run->batch_ids, share, &stats, &run->events.callbacks,
                              &local_error))
        return run_fail (run, local_error, error);
      double seconds = MAX (1e-9, (double) (g_get_monotonic_time () - start) / G_USEC_PER_SEC);
      run->step_seconds = run->step_seconds > 0 ? (1 - ETA_SMOOTHING) * run->step_seconds + ETA_SMOOTHING * seconds
                                                : seconds;
      ClipTrainStepReport report = {
        .stats = stats, .epoch = step / run->steps_per_epoch + 1, .total_steps = run->total_steps,
        .images_per_s = c->batch_size / seconds,
        .eta_s = run->step_seconds * (double) (run->total_steps - stats.step),
      };
      if (!run_after_step (run, &report, &local_error))
        {
          if (!run->distributed)
            return run_fail (run, local_error, error);
          run->pending_failure = local_error;  /* the others learn of it before the next step */
        }
      if (validation_due (run, stats.step) && !run_wait_for_rank0 (run, &local_error))
        return run_fail (run, local_error, error);
    }

  GError *local_error = NULL, *agreed_error = NULL;
  if (is_writer (run) && run->pending_failure == NULL)
    {
      g_autofree char *model_path = clip_train_run_model_path (c->out_dir);
      if (clip_trainer_get_step (trainer) == run->last_saved_step || run_save_checkpoint (run, &local_error))
        clip_model_save (clip_trainer_get_model (trainer), model_path, CLIP_DTYPE_F32, &local_error);
    }
  if (!run_agree (run, local_error, &agreed_error))
    return run_fail (run, agreed_error, error);
  return TRUE;
}

/* ------------------------------------------------------------------ accessors */

const ClipTrainRunConfig *
clip_train_run_get_config (const ClipTrainRun *run)
{
  return &run->config;
}

int64_t
clip_train_run_get_step (const ClipTrainRun *run)
{
  return run->trainer != NULL ? clip_trainer_get_step (run->trainer) : 0;
}

int64_t
clip_train_run_get_saved_step (const ClipTrainRun *run)
{
  return run->last_saved_step;
}

int64_t
clip_train_run_get_total_steps (const ClipTrainRun *run)
{
  return run->total_steps;
}

int64_t
clip_train_run_get_steps_per_epoch (const ClipTrainRun *run)
{
  return run->steps_per_epoch;
}

int
clip_train_run_get_n_train (const ClipTrainRun *run)
{
  return run->n_train;
}

ClipModel *
clip_train_run_get_model (ClipTrainRun *run)
{
  return run->trainer != NULL ? clip_trainer_get_model (run->trainer) : run->initial;
}
