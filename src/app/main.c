/* main.c — ClipLab's GTK application. */
#include <locale.h>
#include <signal.h>

#include <glib/gi18n.h>

#include "cl-application.h"
#include "cl-config.h"
#include "cl-thread-priority.h"

/* As much as the model worker (cl-model-worker.c), which is what those threads compute for. */
#define COMPUTE_NICENESS 10

int
main (int argc, char *argv[])
{
  cl_application_tune_allocator ();
  cl_thread_lower_priority_of_others (COMPUTE_NICENESS);
  /* Over a file-size limit (ulimit -f) a write fails with EFBIG and is reported (a checkpoint, an
   * export), instead of SIGXFSZ ending the application. */
  signal (SIGXFSZ, SIG_IGN);
  setlocale (LC_ALL, "");
  cl_application_bind_translations ();

  /* Without its schema GSettings aborts; say what to do instead. */
  GSettingsSchemaSource *source = g_settings_schema_source_get_default ();
  g_autoptr (GSettingsSchema) schema = source != NULL ? g_settings_schema_source_lookup (source, APPLICATION_ID, TRUE)
                                                      : NULL;
  if (schema == NULL)
    {
      g_printerr (_("cliplab: the settings schema %s is not installed; install ClipLab, or run it from the build "
                    "folder with GSETTINGS_SCHEMA_DIR=<build>/data (meson devenv sets it)\n"),
                  APPLICATION_ID);
      return 1;
    }

  g_set_application_name (_("ClipLab"));
  g_autoptr (ClApplication) app = cl_application_new ();
  return g_application_run (G_APPLICATION (app), argc, argv);
}
