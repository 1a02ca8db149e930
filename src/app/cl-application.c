/* cl-application.c — ClipLab's GtkApplication. */
#include "cl-application.h"

#include <stdlib.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <glib/gi18n.h>

#include "cl-config.h"
#include "cl-model-worker.h"
#include "cl-preferences-dialog.h"
#include "cl-session.h"
#include "cl-thumbnailer.h"
#include "cl-window.h"

struct _ClApplication {
  GtkApplication parent_instance;

  GSettings *settings;
  GSettings *desktop_settings;     /* org.gnome.desktop.interface, when installed */
  ClModelWorker *worker;
  ClThumbnailer *thumbnailer;
  ClSession *session;
  GtkCssProvider *dark_css;
  gboolean dark_css_loaded;

  char *model_path;                /* from the command line */
  char *tokenizer_path;
  char *config_path;
  gboolean model_started;
};

G_DEFINE_FINAL_TYPE (ClApplication, cl_application, GTK_TYPE_APPLICATION)

/* ---------------------------------------------------------------- style */

static void
update_style (ClApplication *self)
{
  g_autofree char *style = g_settings_get_string (self->settings, "style");
  gboolean dark;

  if (g_str_equal (style, "dark"))
    dark = TRUE;
  else if (g_str_equal (style, "light"))
    dark = FALSE;
  else if (self->desktop_settings != NULL)
    {
      g_autofree char *scheme = g_settings_get_string (self->desktop_settings, "color-scheme");
      dark = g_str_equal (scheme, "prefer-dark");
    }
  else
    dark = FALSE;

  g_object_set (gtk_settings_get_default (), "gtk-application-prefer-dark-theme", dark, NULL);
  GdkDisplay *display = gdk_display_get_default ();
  if (dark && !self->dark_css_loaded)
    gtk_style_context_add_provider_for_display (display, GTK_STYLE_PROVIDER (self->dark_css),
                                                GTK_STYLE_PROVIDER_PRIORITY_APPLICATION + 1);
  else if (!dark && self->dark_css_loaded)
    gtk_style_context_remove_provider_for_display (display, GTK_STYLE_PROVIDER (self->dark_css));
  self->dark_css_loaded = dark;
}

static void
load_css (ClApplication *self)
{
  g_autoptr (GtkCssProvider) provider = gtk_css_provider_new ();

  gtk_css_provider_load_from_resource (provider, RESOURCE_BASE_PATH "/style.css");
  gtk_style_context_add_provider_for_display (gdk_display_get_default (), GTK_STYLE_PROVIDER (provider),
                                              GTK_STYLE_PROVIDER_PRIORITY_APPLICATION);
  self->dark_css = gtk_css_provider_new ();
  gtk_css_provider_load_from_resource (self->dark_css, RESOURCE_BASE_PATH "/style-dark.css");
}

/* ---------------------------------------------------------------- model at start-up */

static void
start_model (ClApplication *self)
{
  if (self->model_started)
    return;
  self->model_started = TRUE;

  if (self->model_path != NULL)
    {
      cl_session_load_model (self->session, self->model_path, self->tokenizer_path, self->config_path, FALSE,
                             NULL, NULL);
      return;
    }
  g_autofree char *path = g_settings_get_string (self->settings, "model-path");
  g_autofree char *tokenizer = g_settings_get_string (self->settings, "tokenizer-path");
  g_autofree char *config = g_settings_get_string (self->settings, "model-config-path");
  if (*path == '\0')
    {
      g_clear_pointer (&path, g_free);
      path = cl_session_find_builtin_model ();
    }
  if (path == NULL)
    {
      g_autofree char *problem = g_strdup_printf (_("The built-in model is not installed (%s). Choose a CLIP model "
                                                    "to classify images."),
                                                  CLIPLAB_BUILTIN_MODEL);
      cl_session_set_no_model (self->session, problem);
      return;
    }
  cl_session_load_model (self->session, path, self->tokenizer_path != NULL ? self->tokenizer_path : tokenizer,
                         self->config_path != NULL ? self->config_path : config, FALSE, NULL, NULL);
}

static ClWindow *
ensure_window (ClApplication *self)
{
  GtkWindow *window = gtk_application_get_active_window (GTK_APPLICATION (self));

  if (window == NULL)
    window = GTK_WINDOW (cl_window_new (GTK_APPLICATION (self), self->session));
  return CL_WINDOW (window);
}

static void
present (ClApplication *self, ClWindow *window)
{
  gtk_window_present (GTK_WINDOW (window));
  start_model (self);
}

/* ---------------------------------------------------------------- actions */

static void
action_quit (GSimpleAction *action, GVariant *parameter, gpointer user_data)
{
  GList *windows = gtk_application_get_windows (GTK_APPLICATION (user_data));

  /* Closing the windows lets each one cancel its work. */
  while (windows != NULL)
    {
      GList *next = windows->next;
      gtk_window_destroy (windows->data);
      windows = next;
    }
  g_application_quit (G_APPLICATION (user_data));
}

static void
action_preferences (GSimpleAction *action, GVariant *parameter, gpointer user_data)
{
  ClApplication *self = user_data;
  GtkWindow *parent = gtk_application_get_active_window (GTK_APPLICATION (self));

  gtk_window_present (cl_preferences_dialog_new (parent, self->settings));
}

static void
action_about (GSimpleAction *action, GVariant *parameter, gpointer user_data)
{
  ClApplication *self = user_data;
  GtkWindow *parent = gtk_application_get_active_window (GTK_APPLICATION (self));
  const char *authors[] = { "ClipLab contributors", NULL };
  const ClModelInfo *info = cl_session_get_model_info (self->session);
  int threads = g_settings_get_int (self->settings, "threads");
  g_autofree char *threads_text = threads > 0 ? g_strdup_printf ("%d", threads) : g_strdup (_("all cores"));
  g_autofree char *system = g_strdup_printf ("GTK %u.%u.%u\nGLib %u.%u.%u\n%s: %s\n%s: %s",
                                             gtk_get_major_version (), gtk_get_minor_version (),
                                             gtk_get_micro_version (), glib_major_version, glib_minor_version,
                                             glib_micro_version, _("Compute threads"), threads_text, _("Model"),
                                             info != NULL ? info->path : _("none"));

  gtk_show_about_dialog (parent,
                         "program-name", _("ClipLab"),
                         "logo-icon-name", APPLICATION_ID,
                         "version", PACKAGE_VERSION,
                         "comments", _("Browse, classify, search and train on your images with CLIP, on your own computer."),
                         "license-type", GTK_LICENSE_MIT_X11,
                         "authors", authors,
                         "copyright", _("© 2025 ClipLab contributors"),
                         "translator-credits", _("translator-credits"),
                         "system-information", system,
                         NULL);
}

static void
action_load_model (GSimpleAction *action, GVariant *parameter, gpointer user_data)
{
  ClApplication *self = user_data;
  const char *path, *tokenizer, *config;

  g_variant_get (parameter, "(&s&s&s)", &path, &tokenizer, &config);
  self->model_started = TRUE;
  cl_session_load_model (self->session, path, tokenizer, config, FALSE, NULL, NULL);
}

static const GActionEntry app_actions[] = {
  { "quit", action_quit },
  { "preferences", action_preferences },
  { "about", action_about },
  { "load-model", action_load_model, "(sss)" },
};

static void
set_accels (GtkApplication *app)
{
  static const struct {
    const char *action;
    const char *accels[3];
  } table[] = {
    { "app.quit", { "<Control>q", NULL } },
    { "app.preferences", { "<Control>comma", NULL } },
    { "window.close", { "<Control>w", NULL } },
    { "win.show-help-overlay", { "<Control>question", NULL } },
    { "win.open-folder", { "<Control>o", NULL } },
    { "win.open-dataset", { "<Control><Shift>o", NULL } },
    { "win.choose-model", { "<Control>m", NULL } },
    { "win.export-results", { "<Control>e", NULL } },
    { "win.show-view::cleanup", { "<Alt>6", NULL } },
    { "win.show-view::browse", { "<Alt>1", NULL } },
    { "win.show-view::classify", { "<Alt>2", NULL } },
    { "win.show-view::search", { "<Alt>3", NULL } },
    { "win.show-view::train", { "<Alt>4", NULL } },
    { "win.show-view::map", { "<Alt>5", NULL } },
    { "win.search", { "<Control>f", NULL } },
    { "win.find-similar-selected", { "<Control><Shift>f", NULL } },
    { "win.next-pane", { "F6", NULL } },
    { "win.previous-pane", { "<Shift>F6", NULL } },
  };
  for (guint i = 0; i < G_N_ELEMENTS (table); i++)
    gtk_application_set_accels_for_action (app, table[i].action, table[i].accels);
}

/* ---------------------------------------------------------------- GApplication */

static int
cl_application_handle_local_options (GApplication *app, GVariantDict *options)
{
  ClApplication *self = CL_APPLICATION (app);

  if (g_variant_dict_contains (options, "version"))
    {
      g_print ("cliplab %s\n", PACKAGE_VERSION);
      return 0;
    }
  g_variant_dict_lookup (options, "model", "^ay", &self->model_path);
  g_variant_dict_lookup (options, "tokenizer", "s", &self->tokenizer_path);
  g_variant_dict_lookup (options, "model-config", "^ay", &self->config_path);
  if (self->model_path != NULL)
    {
      g_autoptr (GError) error = NULL;
      if (!g_application_register (app, NULL, &error))
        {
          g_printerr ("cliplab: %s\n", error->message);
          return 1;
        }
      if (g_application_get_is_remote (app))
        {
          /* Another ClipLab is running: it loads the model. */
          g_autofree char *absolute = g_canonicalize_filename (self->model_path, NULL);
          g_action_group_activate_action (G_ACTION_GROUP (app), "load-model",
                                          g_variant_new ("(sss)", absolute,
                                                         self->tokenizer_path != NULL ? self->tokenizer_path : "",
                                                         self->config_path != NULL ? self->config_path : ""));
        }
    }
  return -1;
}

static void
cl_application_startup (GApplication *app)
{
  ClApplication *self = CL_APPLICATION (app);

  G_APPLICATION_CLASS (cl_application_parent_class)->startup (app);

  self->settings = g_settings_new (APPLICATION_ID);
  GSettingsSchemaSource *source = g_settings_schema_source_get_default ();
  g_autoptr (GSettingsSchema) desktop = source != NULL
    ? g_settings_schema_source_lookup (source, "org.gnome.desktop.interface", TRUE) : NULL;
  if (desktop != NULL && g_settings_schema_has_key (desktop, "color-scheme"))
    {
      self->desktop_settings = g_settings_new ("org.gnome.desktop.interface");
      g_signal_connect_swapped (self->desktop_settings, "changed::color-scheme", G_CALLBACK (update_style), self);
    }
  self->worker = cl_model_worker_new ();
  self->thumbnailer = cl_thumbnailer_new ();
  self->session = cl_session_new (self->settings, self->worker, self->thumbnailer);
  cl_model_worker_set_threads (self->worker, g_settings_get_int (self->settings, "threads"));

  g_action_map_add_action_entries (G_ACTION_MAP (app), app_actions, G_N_ELEMENTS (app_actions), app);
  set_accels (GTK_APPLICATION (app));
  gtk_window_set_default_icon_name (APPLICATION_ID);
  load_css (self);
  g_signal_connect_swapped (self->settings, "changed::style", G_CALLBACK (update_style), self);
  update_style (self);
}

static void
cl_application_activate (GApplication *app)
{
  ClApplication *self = CL_APPLICATION (app);
  gboolean first = gtk_application_get_active_window (GTK_APPLICATION (app)) == NULL;
  ClWindow *window = ensure_window (self);

  /* Pick up where the user left off. */
  g_autofree char *last = g_settings_get_string (self->settings, "last-folder");
  if (first && *last != '\0' && g_file_test (last, G_FILE_TEST_EXISTS))
    {
      g_autoptr (GFile) file = g_file_new_for_path (last);
      cl_session_open (self->session, file);
    }
  present (self, window);
}

static void
cl_application_open (GApplication *app, GFile **files, int n_files, const char *hint)
{
  ClApplication *self = CL_APPLICATION (app);
  ClWindow *window = ensure_window (self);

  if (n_files > 0)
    cl_session_open (self->session, files[0]);
  present (self, window);
}

static void
cl_application_shutdown (GApplication *app)
{
  ClApplication *self = CL_APPLICATION (app);

  /* Stop the model thread before anything it reports to goes away. */
  if (self->worker != NULL)
    cl_model_worker_shutdown (self->worker);
  G_APPLICATION_CLASS (cl_application_parent_class)->shutdown (app);
}

static void
cl_application_finalize (GObject *object)
{
  ClApplication *self = CL_APPLICATION (object);

  g_clear_object (&self->session);
  g_clear_object (&self->thumbnailer);
  g_clear_object (&self->worker);
  g_clear_object (&self->settings);
  g_clear_object (&self->desktop_settings);
  g_clear_object (&self->dark_css);
  g_free (self->model_path);
  g_free (self->tokenizer_path);
  g_free (self->config_path);
  G_OBJECT_CLASS (cl_application_parent_class)->finalize (object);
}

static void
cl_application_class_init (ClApplicationClass *klass)
{
  GApplicationClass *app_class = G_APPLICATION_CLASS (klass);

  G_OBJECT_CLASS (klass)->finalize = cl_application_finalize;
  app_class->handle_local_options = cl_application_handle_local_options;
  app_class->startup = cl_application_startup;
  app_class->activate = cl_application_activate;
  app_class->open = cl_application_open;
  app_class->shutdown = cl_application_shutdown;
}

static void
cl_application_init (ClApplication *self)
{
  static const GOptionEntry entries[] = {
    { "model", 'm', 0, G_OPTION_ARG_FILENAME, NULL,
      N_("Use this model: a Hugging Face or OpenCLIP folder, a .safetensors file or a ClipLab checkpoint"),
      N_("PATH") },
    { "tokenizer", 't', 0, G_OPTION_ARG_STRING, NULL,
      N_("Use this tokenizer instead of the model’s own: “bytes”, or a vocabulary folder or file"), N_("PATH") },
    { "model-config", 0, 0, G_OPTION_ARG_FILENAME, NULL,
      N_("The JSON configuration of a bare .safetensors model"), N_("FILE") },
    { "version", 0, 0, G_OPTION_ARG_NONE, NULL, N_("Show the version and quit"), NULL },
    { NULL },
  };

  g_application_add_main_option_entries (G_APPLICATION (self), entries);
  g_application_set_option_context_parameter_string (G_APPLICATION (self), _("[FOLDER or DATA SET]"));
  g_application_set_option_context_summary (G_APPLICATION (self),
                                            _("Browse, classify, search and train on images with CLIP."));
}

void
cl_application_tune_allocator (void)
{
#ifdef __GLIBC__
  /* glibc's default threshold, fixed: setting it turns the adjustment off. */
  mallopt (M_MMAP_THRESHOLD, 128 * 1024);
#endif
}

void
cl_application_bind_translations (void)
{
  g_autofree char *program = g_file_read_link ("/proc/self/exe", NULL);
  /* Both sides without symbolic links: the kernel gives the program's real path. */
  char *build_root = realpath (CLIPLAB_BUILD_ROOT, NULL);
  g_autofree char *prefix = build_root != NULL ? g_strconcat (build_root, G_DIR_SEPARATOR_S, NULL) : NULL;
  gboolean uninstalled = program != NULL && prefix != NULL && g_str_has_prefix (program, prefix);

  free (build_root);
  bindtextdomain (GETTEXT_PACKAGE, uninstalled ? CLIPLAB_BUILD_LOCALEDIR : LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);
}

ClApplication *
cl_application_new (void)
{
  return g_object_new (CL_TYPE_APPLICATION, "application-id", APPLICATION_ID, "flags", G_APPLICATION_HANDLES_OPEN,
                       "resource-base-path", RESOURCE_BASE_PATH, NULL);
}
