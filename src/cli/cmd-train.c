/* cmd-train.c — `cliplab-cli train`: trains a CLIP model on a data set (a captioned image CSV, an
 * image folder, WebDataset shards, COCO or Karpathy captions), or continues a
 * run with --resume.  The run itself (data, schedule, log, checkpoints) is the library's
 * ClipTrainRun; this file maps flags onto its configuration and shows progress. */
#include "cli-common.h"
#ifdef CLIPLAB_MPI
#include "cli-mpi.h"
#endif

#include <signal.h>
#include <stdio.h>
#include <string.h>

typedef enum {
  FLAG_INT, FLAG_INT64, FLAG_DOUBLE, FLAG_PATH, FLAG_STRING, FLAG_SET_TRUE, FLAG_SET_FALSE, FLAG_SEED,
  FLAG_ACTIVATION,
} FlagType;

/* Every training flag and the configuration field it sets; ARCHITECTURE flags describe a new model
 * and cannot be combined with --init. */
typedef struct {
  const char *name;
  FlagType    type;
  size_t      offset;
  gboolean    architecture;
  const char *description;
  const char *arg;
} TrainFlag;

#define AT(member) G_STRUCT_OFFSET (ClipTrainRunConfig, member)
static const TrainFlag train_flags[] = {
  { "csv", FLAG_PATH, AT (csv_path), FALSE, "Training pairs: a CSV with header image_path,caption[,label] (this or --dataset is required)", "FILE" },
  { "dataset", FLAG_PATH, AT (csv_path), FALSE, "Training data in any format: a CSV, an image folder (a subfolder per class), a WebDataset folder, a COCO captions or Karpathy split JSON", "PATH" },
  { "split", FLAG_STRING, AT (split), FALSE, "The part of a WebDataset or Karpathy data set to train on (default: train)", "NAME" },
  { "img-root", FLAG_PATH, AT (image_root), FALSE, "The folder the image paths are relative to (required with --csv; default for --dataset: the format's)", "DIR" },
  { "val-csv", FLAG_PATH, AT (val_csv_path), FALSE, "Validation pairs, evaluated at each epoch end (paths under --img-root)", "FILE" },
  { "val-dataset", FLAG_PATH, AT (val_csv_path), FALSE, "Validation data in any format --dataset reads", "PATH" },
  { "val-split", FLAG_STRING, AT (val_split), FALSE, "The part of the validation data set (default: test)", "NAME" },
  { "val-templates", FLAG_STRING, AT (val_templates), FALSE, "Zero-shot templates for validation labels: simple, openai7, imagenet80 or a file (default: simple)", "SET|FILE" },
  { "out", FLAG_PATH, AT (out_dir), FALSE, "Folder for checkpoints and the final model.safetensors (required)", "DIR" },
  { "log-json", FLAG_PATH, AT (log_json_path), FALSE, "Write one JSON object per step and per validation to FILE", "FILE" },
  { "epochs", FLAG_INT, AT (epochs), FALSE, "Passes over the data (default: 10)", "N" },
  { "batch-size", FLAG_INT, AT (batch_size), FALSE, "Pairs per step; an epoch's last incomplete batch is dropped (default: 64, or all the usable pairs when fewer)", "N" },
  { "lr", FLAG_DOUBLE, AT (lr), FALSE, "Peak learning rate of the cosine schedule (default: 1e-4)", "RATE" },
  { "warmup", FLAG_INT64, AT (warmup_steps), FALSE, "Linear warmup steps (default: 5% of the total steps)", "STEPS" },
  { "weight-decay", FLAG_DOUBLE, AT (weight_decay), FALSE, "AdamW weight decay on matrices and embeddings (default: 0.2)", "W" },
  { "grad-clip", FLAG_DOUBLE, AT (grad_clip), FALSE, "Clip the gradient's global norm to this; 0 = off (default: 1.0)", "NORM" },
  { "max-steps", FLAG_INT64, AT (max_steps), FALSE, "Stop after N steps; the schedule ends there too (overrides --epochs)", "N" },
  { "seed", FLAG_SEED, AT (seed), FALSE, "Seed of the initial weights, the shuffling and the augmentation (default: 0)", "N" },
  { "no-shuffle", FLAG_SET_FALSE, AT (shuffle), FALSE, "Keep the CSV order in every epoch", NULL },
  { "augment", FLAG_SET_TRUE, AT (augment), FALSE, "Random resized crops (90-100% of the area), seeded", NULL },
  { "augment-flip", FLAG_SET_TRUE, AT (augment_flip), FALSE, "Mirror each image left-right with probability 1/2, seeded (when the captions hold for mirror images)", NULL },
  { "init", FLAG_PATH, AT (init_model), FALSE, "Start from this model (fine-tuning) with its architecture and tokenizer", "MODEL" },
  { "tokenizer", FLAG_PATH, AT (tokenizer), FALSE, "\"bytes\" or a BPE vocabulary (default: the --init model's, else bytes: 258 ids)", "bytes|PATH" },
  { "vision-width", FLAG_INT, AT (vision_width), TRUE, "Image tower width (default: 768)", "N" },
  { "vision-layers", FLAG_INT, AT (vision_layers), TRUE, "Image tower layers (default: 12)", "N" },
  { "vision-heads", FLAG_INT, AT (vision_heads), TRUE, "Image tower heads (default: width / 64)", "N" },
  { "patch-size", FLAG_INT, AT (patch_size), TRUE, "Patch size in pixels (default: 32)", "N" },
  { "image-size", FLAG_INT, AT (image_size), TRUE, "Input image size (default: 224)", "N" },
  { "text-width", FLAG_INT, AT (text_width), TRUE, "Text tower width (default: 512)", "N" },
  { "text-layers", FLAG_INT, AT (text_layers), TRUE, "Text tower layers (default: 12)", "N" },
  { "text-heads", FLAG_INT, AT (text_heads), TRUE, "Text tower heads (default: 8)", "N" },
  { "context-length", FLAG_INT, AT (context_length), TRUE, "Tokens per caption (default: 77)", "N" },
  { "embed-dim", FLAG_INT, AT (embed_dim), TRUE, "Joint embedding size (default: 512)", "N" },
  { "activation", FLAG_ACTIVATION, AT (activation), TRUE, "MLP activation, quick_gelu or gelu (default: quick_gelu)", "NAME" },
  { "save-every", FLAG_INT64, AT (save_every), FALSE, "Checkpoint every N steps; 0 = only at the end (default: 500)", "N" },
  { "keep", FLAG_INT, AT (keep), FALSE, "Checkpoints to keep (default: 3)", "N" },
};
#undef AT

typedef struct {
  ClipTrainRunConfig config;
  GHashTable        *given;      /* names of the training flags on the command line */
  char              *resume_dir;
  int                threads;
  gboolean           threads_given;
  double             collective_timeout;   /* under mpirun */
  /* progress */
  CliProgress        progress;
  char              *progress_label;
  const char        *phase;        /* of the progress bar: a preparation, or NULL for the steps */
  gboolean           drawing_steps;
  int64_t            last_draw;
} TrainCommand;

static volatile sig_atomic_t interrupted;

static void
on_interrupt (int signum)
{
  interrupted = 1;
}

static gboolean
is_interrupted (gpointer user_data)
{
  return interrupted != 0;
}

static const TrainFlag *
find_flag (const char *option_name)
{
  const char *name = g_str_has_prefix (option_name, "--") ? option_name + 2 : option_name;
  for (size_t i = 0; i < G_N_ELEMENTS (train_flags); i++)
    if (g_str_equal (train_flags[i].name, name))
      return &train_flags[i];
  return NULL;
}

static gboolean
parse_flag (const char *option_name, const char *value, gpointer data, GError **error)
{
  TrainCommand *cmd = data;
  const TrainFlag *flag = find_flag (option_name);
  gpointer field = G_STRUCT_MEMBER_P (&cmd->config, flag->offset);
  gint64 number;
  guint64 seed;
  char *end = NULL;
  switch (flag->type)
    {
    case FLAG_INT:
    case FLAG_INT64:
      if (!g_ascii_string_to_signed (value, 10, flag->type == FLAG_INT ? G_MININT : G_MININT64,
                                     flag->type == FLAG_INT ? G_MAXINT : G_MAXINT64, &number, NULL))
        {
          g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "%s %s: expected an integer", option_name, value);
          return FALSE;
        }
      if (flag->type == FLAG_INT)
        *(int *) field = (int) number;
      else
        *(int64_t *) field = number;
      break;
    case FLAG_DOUBLE:
      *(double *) field = g_ascii_strtod (value, &end);
      if (end == value || *end != '\0')
        {
          g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "%s %s: expected a number", option_name, value);
          return FALSE;
        }
      break;
    case FLAG_PATH:
    case FLAG_STRING:
      g_free (*(char **) field);
      *(char **) field = g_strdup (value);
      break;
    case FLAG_SET_TRUE:
    case FLAG_SET_FALSE:
      *(gboolean *) field = flag->type == FLAG_SET_TRUE;
      break;
    case FLAG_SEED:
      if (!g_ascii_string_to_unsigned (value, 10, 0, G_MAXUINT64, &seed, NULL))
        {
          g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "%s %s: expected an integer from 0 to %"
                       G_GUINT64_FORMAT, option_name, value, (guint64) G_MAXUINT64);
          return FALSE;
        }
      *(uint64_t *) field = seed;
      break;
    case FLAG_ACTIVATION:
      if (g_str_equal (value, "quick_gelu"))
        *(ClipActivation *) field = CLIP_ACTIVATION_QUICK_GELU;
      else if (g_str_equal (value, "gelu"))
        *(ClipActivation *) field = CLIP_ACTIVATION_GELU;
      else
        {
          g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "%s %s: expected quick_gelu or gelu",
                       option_name, value);
          return FALSE;
        }
      break;
    }
  g_hash_table_add (cmd->given, (gpointer) flag->name);
  return TRUE;
}

static gboolean
parse_threads (const char *option_name, const char *value, gpointer data, GError **error)
{
  TrainCommand *cmd = data;
  gint64 n;
  if (!g_ascii_string_to_signed (value, 10, 0, CLIP_MAX_THREADS, &n, NULL))
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "--threads %s: expected 0 (all cores) or a "
                   "positive count of at most %d", value, CLIP_MAX_THREADS);
      return FALSE;
    }
  cmd->threads = (int) n;
  cmd->threads_given = TRUE;
  return TRUE;
}

/* --resume takes every setting from the run; --init fixes the architecture.  Other flags would be
 * silently ignored there, so they are refused. */
static gboolean
check_flag_combinations (TrainCommand *cmd)
{
  for (size_t i = 0; i < G_N_ELEMENTS (train_flags); i++)
    {
      const TrainFlag *flag = &train_flags[i];
      if (!g_hash_table_contains (cmd->given, flag->name))
        continue;
      if (cmd->resume_dir != NULL)
        {
          cli_print_error ("train: --%s cannot be changed when resuming: the run continues with the settings "
                           "stored in its checkpoint (only --threads may be given with --resume)", flag->name);
          return FALSE;
        }
      if (flag->architecture && cmd->config.init_model != NULL)
        {
          cli_print_error ("train: --%s describes a new model; with --init the architecture is the initial "
                           "model's", flag->name);
          return FALSE;
        }
    }
  if (cmd->resume_dir != NULL)
    return TRUE;
  const char *const same_field[][2] = { { "csv", "dataset" }, { "val-csv", "val-dataset" } };
  for (size_t i = 0; i < G_N_ELEMENTS (same_field); i++)
    if (g_hash_table_contains (cmd->given, same_field[i][0]) && g_hash_table_contains (cmd->given, same_field[i][1]))
      {
        cli_print_error ("train: --%s and --%s both name the data: give one", same_field[i][0], same_field[i][1]);
        return FALSE;
      }
  if (!g_hash_table_contains (cmd->given, "csv") && !g_hash_table_contains (cmd->given, "dataset"))
    {
      cli_print_error ("train: --dataset PATH (or --csv FILE) is required (see '%s train --help')", CLI_PROGRAM_NAME);
      return FALSE;
    }
  if (g_hash_table_contains (cmd->given, "csv") && !g_hash_table_contains (cmd->given, "img-root"))
    {
      cli_print_error ("train: --img-root is required with --csv (see '%s train --help')", CLI_PROGRAM_NAME);
      return FALSE;
    }
  if (!g_hash_table_contains (cmd->given, "out"))
    {
      cli_print_error ("train: --out is required (see '%s train --help')", CLI_PROGRAM_NAME);
      return FALSE;
    }
  return TRUE;
}

/* ---------------------------------------------------------------- callbacks */

static void
on_notice (const char *message, gpointer user_data)
{
  cli_print_error ("%s", message);
}

static void
on_progress (const char *what, int64_t done, int64_t total, gpointer user_data)
{
  TrainCommand *cmd = user_data;
  if (g_strcmp0 (cmd->phase, what) != 0)
    {
      cli_progress_finish (&cmd->progress);
      cli_progress_init (&cmd->progress, what, (int) MIN (total, G_MAXINT));
      cmd->phase = what;
      cmd->drawing_steps = FALSE;
    }
  cli_progress_update (&cmd->progress, (int) MIN (done, G_MAXINT));
}

static void
on_step (const ClipTrainStepReport *r, gpointer user_data)
{
  TrainCommand *cmd = user_data;
  if (!cmd->drawing_steps)
    {
      cli_progress_finish (&cmd->progress);
      cmd->phase = NULL;
      cmd->drawing_steps = TRUE;
      cli_progress_init (&cmd->progress, "", (int) MIN (r->total_steps, G_MAXINT));
    }
  /* at most ten redraws a second, and always the last step */
  int64_t now = g_get_monotonic_time ();
  if (!cmd->progress.enabled || (now - cmd->last_draw < G_USEC_PER_SEC / 10 && r->stats.step != r->total_steps))
    return;
  cmd->last_draw = now;
  g_autofree char *eta = cli_format_duration (r->eta_s);
  g_free (cmd->progress_label);
  cmd->progress_label = g_strdup_printf ("epoch %" G_GINT64_FORMAT "  loss %.4f  lr %.3g  %.0f img/s  ETA %s",
                                         r->epoch, r->stats.loss, r->stats.lr, r->images_per_s, eta);
  cmd->progress.label = cmd->progress_label;
  cli_progress_update (&cmd->progress, (int) MIN (r->stats.step, G_MAXINT));
}

static void
on_validation (const ClipTrainValidation *v, gpointer user_data)
{
  TrainCommand *cmd = user_data;
  cli_progress_finish (&cmd->progress);
  cmd->drawing_steps = FALSE;
  g_autoptr (GString) line = g_string_new (NULL);
  g_string_append_printf (line, "epoch %" G_GINT64_FORMAT " step %" G_GINT64_FORMAT ": image→text R@1 %.2f%% "
                          "R@5 %.2f%%, text→image R@1 %.2f%% R@5 %.2f%%", v->epoch, v->step,
                          100 * v->retrieval.image_to_text[0], 100 * v->retrieval.image_to_text[1],
                          100 * v->retrieval.text_to_image[0], 100 * v->retrieval.text_to_image[1]);
  if (v->has_zero_shot)
    g_string_append_printf (line, ", zero-shot top-1 %.2f%% top-5 %.2f%%", 100 * v->zero_shot_top1,
                            100 * v->zero_shot_top5);
  printf ("%s\n", line->str);
  fflush (stdout);
}

/* ---------------------------------------------------------------- the command */

/* Under mpirun every rank runs this; rank 0 alone prints.  A failure that every rank knows of (the
 * library agrees on them) ends each rank with status 1; an MPI failure, which the others may not
 * know of, ends the whole job. */
static int
train_fail (const ClipCommunicator *comm, gpointer mpi, GError *error)
{
#ifdef CLIPLAB_MPI
  if (mpi != NULL && cli_mpi_transport_failed (mpi))
    {
      cli_print_error ("%s", error->message);
      g_error_free (error);
      cli_mpi_abort (mpi, 1);
    }
#endif
  if (comm != NULL && comm->rank != 0)
    {
      g_error_free (error);
      return 1;
    }
  return cli_fail (error);
}

/* Builds the run (new or resumed) and trains; returns the exit status. */
static int
train (TrainCommand *cmd)
{
  if (cmd->threads_given)
    clip_set_threads (cmd->threads);
  g_autoptr (GError) error = NULL;
  const ClipCommunicator *comm = NULL;
#ifdef CLIPLAB_MPI
  g_autoptr (CliMpi) mpi = NULL;
  if (!cli_mpi_start (cmd->collective_timeout, &mpi, &error))
    return cli_fail (g_steal_pointer (&error));
  if (mpi != NULL)
    comm = cli_mpi_get_communicator (mpi);
#else
  gpointer mpi = NULL;
#endif
  ClipTrainEvents events = {
    .callbacks = { .progress = on_progress, .abort = is_interrupted, .user_data = cmd },
    .notice = on_notice, .step = on_step, .validation = on_validation,
  };
  /* The default fits small data sets; a batch size given is used as given (or refused). */
  cmd->config.fit_batch_size = !g_hash_table_contains (cmd->given, "batch-size");
  if (comm != NULL && comm->rank != 0)
    events = (ClipTrainEvents) { .callbacks = { .abort = is_interrupted } };  /* rank 0 reports for all */
  g_autoptr (ClipTrainRun) run = cmd->resume_dir != NULL
                                   ? clip_train_run_resume_distributed (cmd->resume_dir, &events, comm, &error)
                                   : clip_train_run_new_distributed (&cmd->config, &events, comm, &error);
  if (comm != NULL)
    {
      g_autoptr (GError) agreed = NULL;
      if (!clip_communicator_agree (comm, error, &agreed))
        return train_fail (comm, mpi, g_steal_pointer (&agreed));
    }
  if (run == NULL)
    return cli_fail (g_steal_pointer (&error));

  /* Ctrl-C stops after the current step with a checkpoint; a second one ends the process. */
  struct sigaction action = { .sa_handler = on_interrupt, .sa_flags = SA_RESETHAND };
  sigemptyset (&action.sa_mask);
  sigaction (SIGINT, &action, NULL);
  sigaction (SIGTERM, &action, NULL);
#ifdef CLIPLAB_MPI
  if (mpi != NULL)
    cli_mpi_watch_signal (mpi, &interrupted, clip_train_run_get_config (run)->out_dir);
#endif

  int64_t first_step = clip_train_run_get_step (run), start = g_get_monotonic_time ();
  gboolean ok = clip_train_run_run (run, &error);
  cli_progress_finish (&cmd->progress);
  const char *out_dir = clip_train_run_get_config (run)->out_dir;
  int64_t step = clip_train_run_get_step (run);
  if (!ok && comm != NULL && (comm->rank != 0 || !g_error_matches (error, CLIP_ERROR, CLIP_ERROR_ABORTED)))
    return train_fail (comm, mpi, g_steal_pointer (&error));
  if (!ok && g_error_matches (error, CLIP_ERROR, CLIP_ERROR_ABORTED) && clip_train_run_get_saved_step (run) == 0)
    {
      cli_print_error ("stopped before the first training step; nothing was saved (run the same command again "
                       "to start over)");
      return 1;
    }
  if (!ok && g_error_matches (error, CLIP_ERROR, CLIP_ERROR_ABORTED))
    {
      cli_print_error ("stopped at step %" G_GINT64_FORMAT " of %" G_GINT64_FORMAT " with a checkpoint; continue "
                       "with '%s train --resume %s'", step, clip_train_run_get_total_steps (run), CLI_PROGRAM_NAME,
                       out_dir);
      return 1;
    }
  if (!ok)
    return cli_fail (g_steal_pointer (&error));
  if (comm != NULL && comm->rank != 0)
    return 0;
#ifdef CLIPLAB_MPI
  if (mpi != NULL && step > first_step)
    printf ("over MPI on %d ranks: %.3f MB sent per step by each rank, %.1f ms per step in collectives on "
            "rank 0\n", comm->size, cli_mpi_get_bytes_sent (mpi) / 1e6 / (double) (step - first_step),
            1e3 * cli_mpi_get_seconds_in_collectives (mpi) / (double) (step - first_step));
#endif
  g_autofree char *elapsed = cli_format_duration ((double) (g_get_monotonic_time () - start) / G_USEC_PER_SEC);
  g_autofree char *model_file = clip_train_run_model_path (out_dir);
  g_autofree char *model_path = cli_path_for_text (model_file);
  printf ("trained steps %" G_GINT64_FORMAT " to %" G_GINT64_FORMAT " (%d pairs, %" G_GINT64_FORMAT " steps per "
          "epoch) in %s; model: %s\n", first_step + 1, step, clip_train_run_get_n_train (run),
          clip_train_run_get_steps_per_epoch (run), elapsed, model_path);
  return 0;
}

int
cli_cmd_train (int argc, char **argv)
{
  TrainCommand cmd = { .given = g_hash_table_new (g_str_hash, g_str_equal), .collective_timeout = 600 };
  clip_train_run_config_init (&cmd.config);

  GOptionEntry entries[G_N_ELEMENTS (train_flags) + 4];
  for (size_t i = 0; i < G_N_ELEMENTS (train_flags); i++)
    {
      const TrainFlag *flag = &train_flags[i];
      gboolean no_arg = flag->type == FLAG_SET_TRUE || flag->type == FLAG_SET_FALSE;
      entries[i] = (GOptionEntry) {
        flag->name, 0, (no_arg ? G_OPTION_FLAG_NO_ARG : 0) | (flag->type == FLAG_PATH ? G_OPTION_FLAG_FILENAME : 0),
        G_OPTION_ARG_CALLBACK, parse_flag, flag->description, flag->arg,
      };
    }
  size_t n = G_N_ELEMENTS (train_flags);
  entries[n++] = (GOptionEntry) { "resume", 0, 0, G_OPTION_ARG_FILENAME, &cmd.resume_dir,
                                  "Continue the run whose --out folder is DIR, with its stored settings", "DIR" };
  entries[n++] = (GOptionEntry) { "threads", 0, 0, G_OPTION_ARG_CALLBACK, parse_threads,
                                  "Number of compute threads (0 = all cores)", "N" };
  entries[n++] = (GOptionEntry) { "collective-timeout", 0, 0, G_OPTION_ARG_DOUBLE, &cmd.collective_timeout,
                                  "Under mpirun: end the job when the ranks wait this long for one another; "
                                  "more than rank 0 takes to validate (default: 600)", "SECONDS" };
  entries[n] = (GOptionEntry) G_OPTION_ENTRY_NULL;

  GOptionContext *context = cli_option_context_new (
    "train", NULL, "Train a CLIP model on captioned images, or continue a run with --resume.\n\n"
    "OUT receives checkpoint-NNNNNN.safetensors files (every --save-every steps and at the end; the last "
    "--keep are kept) and model.safetensors, the final model, which every command loads with --model.",
    entries, NULL, &cmd);
  int status = 1;
  if (cli_option_context_parse (context, "train", &argc, &argv) && check_flag_combinations (&cmd))
    status = train (&cmd);
  g_option_context_free (context);
  clip_train_run_config_clear (&cmd.config);
  g_hash_table_unref (cmd.given);
  g_free (cmd.resume_dir);
  g_free (cmd.progress_label);
  return status;
}
