/* main.c — cliplab-cli: parses the top-level options and dispatches to one subcommand. */
#include "cli-common.h"
#include "cmd-explore.h"

#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

typedef struct {
  const char *name;
  const char *summary;
  int (*run) (int argc, char **argv);
} CliCommand;

int cli_cmd_dataset (int argc, char **argv);
int cli_cmd_evaluate (int argc, char **argv);
int cli_cmd_train (int argc, char **argv);
int cli_cmd_bench (int argc, char **argv);

static const CliCommand cli_commands[] = {
  { "embed",   "Print the L2-normalised embedding of images, texts or token ids", cli_cmd_embed },
  { "infer",   "Zero-shot classify the images of a folder",                       cli_cmd_infer },
  { "info",    "Describe a model: layout, architecture, tokenizer, preprocessing", cli_cmd_info },
  { "convert", "Save a model as one self-contained ClipLab checkpoint",           cli_cmd_convert },
  { "dataset", "Write a data set to train and evaluate on (fashion-mnist, shapes)", cli_cmd_dataset },
  { "evaluate", "Retrieval recall and zero-shot accuracy on a captioned CSV",     cli_cmd_evaluate },
  { "train",   "Train a CLIP model on captioned images, or resume a run",        cli_cmd_train },
  { "index",   "Embed the images of a folder into its index for search",          cli_cmd_index },
  { "search",  "Rank a folder's images by similarity to texts and images",         cli_cmd_search },
  { "map",     "Lay a data set's images out on a 2-D map with named clusters",    cli_cmd_map },
  { "duplicates", "Group identical and near-identical images",                   cli_cmd_duplicates },
  { "audit",   "Suspected label errors and outliers of a labelled data set",      cli_cmd_audit },
  { "bench",   "Time inference and the matrix products alone; peak memory",      cli_cmd_bench },
  { "model",   "Download pretrained models from Hugging Face; list those in its cache", cli_cmd_model },
};

/* Ends the process with STATUS once the output is flushed.  Under an address-space limit (ulimit -v)
 * an OpenBLAS thread may be retrying, forever, to allocate its work buffer (OpenBLAS 0.3.21 does
 * that from its start), and a normal exit would wait for it: then the process ends without joining
 * its threads. */
static int
cli_exit (int status)
{
  struct rlimit limit;
  if (getrlimit (RLIMIT_AS, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY)
    {
      fflush (stderr);
      _exit (status);
    }
  return status;
}

static char *
cli_commands_describe (void)
{
  GString *text = g_string_new ("Commands:\n");
  for (size_t i = 0; i < G_N_ELEMENTS (cli_commands); i++)
    g_string_append_printf (text, "  %-10s %s\n", cli_commands[i].name, cli_commands[i].summary);
  g_string_append (text, "\nRun '" CLI_PROGRAM_NAME " COMMAND --help' for the options of a command.");
  return g_string_free (text, FALSE);
}

int
main (int argc, char **argv)
{
  gboolean show_version = FALSE;
  const GOptionEntry entries[] = {
    { "version", 0, 0, G_OPTION_ARG_NONE, &show_version, "Print the version and exit", NULL },
    G_OPTION_ENTRY_NULL
  };

  /* Messages in the user's language and encoding; numbers are printed by json-glib and
   * g_ascii_* functions, so a decimal comma never reaches the JSON output. */
  setlocale (LC_ALL, "");
  setlocale (LC_NUMERIC, "C");
  g_set_prgname (CLI_PROGRAM_NAME);
  /* A reader that stops early (`| head -1`) ends us quietly, even if our parent ignored SIGPIPE. */
  signal (SIGPIPE, SIG_DFL);
  /* Over a file-size limit (ulimit -f), write() then fails with EFBIG: the error is reported and the
   * temporary file removed, instead of the process being killed in the middle of the write. */
  signal (SIGXFSZ, SIG_IGN);
  cli_output_init ();

  g_autoptr (GOptionContext) context = g_option_context_new ("COMMAND [OPTION…]");
  g_autofree char *description = cli_commands_describe ();
  g_option_context_set_summary (context, "Compute CLIP embeddings and zero-shot classifications.");
  g_option_context_set_description (context, description);
  g_option_context_add_main_entries (context, entries, NULL);
  /* Stop at the command name: what follows belongs to the command. */
  g_option_context_set_strict_posix (context, TRUE);

  g_autoptr (GError) error = NULL;
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      cli_print_error ("%s (see '%s --help')", error->message, CLI_PROGRAM_NAME);
      return 1;
    }
  if (show_version)
    {
      printf ("%s %s\n", CLI_PROGRAM_NAME, CLIPLAB_VERSION);
      return cli_finish_output (0);
    }
  if (argc < 2)
    {
      cli_print_error ("no command given (see '%s --help')", CLI_PROGRAM_NAME);
      return 1;
    }

  for (size_t i = 0; i < G_N_ELEMENTS (cli_commands); i++)
    if (strcmp (argv[1], cli_commands[i].name) == 0)
      return cli_exit (cli_finish_output (cli_commands[i].run (argc - 1, argv + 1)));

  cli_print_error ("unknown command '%s' (see '%s --help')", argv[1], CLI_PROGRAM_NAME);
  return 1;
}
