/* cl-model-chooser.c — choosing and describing models. */
#include "cl-model-chooser.h"

#include <glib/gi18n.h>

#include "cl-async.h"
#include "cl-config.h"
#include "cl-file-chooser.h"
#include "cl-hub-page.h"

struct _ClModelChooser {
  GtkWindow parent_instance;

  /* Template widgets. */
  GtkStack *details_stack;
  GtkLabel *name_value;
  GtkLabel *format_value;
  GtkLabel *weights_value;
  GtkLabel *arithmetic_value;
  GtkLabel *params_value;
  GtkLabel *vision_value;
  GtkLabel *text_value;
  GtkLabel *embed_value;
  GtkLabel *tokenizer_value;
  GtkLabel *path_value;
  GtkLabel *no_model_label;
  GtkLabel *builtin_subtitle;
  GtkButton *builtin_button;
  GtkButton *folder_button;
  GtkEntry *tokenizer_entry;
  GtkEntry *config_entry;
  GtkWidget *recent_box;
  GtkListBox *recent_list;
  GtkLabel *status_label;
  GtkLabel *error_label;
  GtkStack *pages;

  ClSession *session;
  char *builtin_path;
  gboolean busy;
};

G_DEFINE_FINAL_TYPE (ClModelChooser, cl_model_chooser, GTK_TYPE_WINDOW)

enum { PROP_0, PROP_BUSY, N_PROPS };
static GParamSpec *properties[N_PROPS];

char *
cl_format_parameter_count (gint64 n)
{
  if (n >= 1000000000)
    return g_strdup_printf (_("%.2f billion"), n / 1e9);
  if (n >= 1000000)
    return g_strdup_printf (_("%.1f million"), n / 1e6);
  return g_strdup_printf ("%'" G_GINT64_FORMAT, n);
}

static const char *
activation_name (ClipActivation activation)
{
  return activation == CLIP_ACTIVATION_QUICK_GELU ? "QuickGELU" : "GELU";
}

/* What runs the model's products, e.g. "Int8 (amx-int8 kernels), chosen by Automatic". */
static char *
arithmetic_text (const ClModelInfo *info, gboolean automatic)
{
  static const char *const names[] = { [CLIP_PRECISION_BF16] = N_("BFloat16"), [CLIP_PRECISION_INT8] = N_("Int8") };
  g_autofree char *arithmetic = NULL;
  if (info->precision == CLIP_PRECISION_F32)
    arithmetic = g_strdup (_("Float32 (exact)"));
  else
    /* Translators: a precision and the kernels that run it, e.g. "Int8 (amx-int8 kernels)" */
    arithmetic = g_strdup_printf (_("%s (%s kernels)"), _(names[info->precision]),
                                  clip_precision_kernel_name (info->precision));
  /* Translators: the precision the Automatic preference chose for this model and this CPU */
  return automatic ? g_strdup_printf (_("%s, chosen by Automatic"), arithmetic) : g_steal_pointer (&arithmetic);
}

static void
update_details (ClModelChooser *self)
{
  const ClModelInfo *info = cl_session_get_model_info (self->session);

  if (info == NULL)
    {
      const char *problem = cl_session_get_model_problem (self->session);
      gtk_label_set_label (self->no_model_label,
                           cl_session_get_model_state (self->session) == CL_MODEL_STATE_LOADING
                           ? _("A model is being loaded…")
                           : problem != NULL ? problem : _("No model is loaded."));
      gtk_stack_set_visible_child_name (self->details_stack, "none");
      return;
    }

  const ClipConfig *c = &info->config;
  g_autofree char *params = cl_format_parameter_count (info->n_params);
  /* Translators: the image encoder, e.g. "ViT, 224 px, 32 px patches, 12 layers × 768, 12 heads, QuickGELU" */
  g_autofree char *vision = g_strdup_printf (_("ViT, %d px, %d px patches, %d layers × %d, %d heads, %s"),
                                             c->image_size, c->patch_size, c->vision.layers, c->vision.width,
                                             c->vision.heads, activation_name (c->vision.activation));
  /* Translators: the text encoder, e.g. "12 layers × 512, 8 heads, 77 tokens, 49,408 words" */
  g_autofree char *text = g_strdup_printf (_("%d layers × %d, %d heads, %d tokens, vocabulary of %d"),
                                           c->text.layers, c->text.width, c->text.heads, c->context_length,
                                           c->vocab_size);
  g_autofree char *embed = g_strdup_printf (_("%d dimensions"), c->embed_dim);
  g_autofree char *path = g_filename_display_name (info->path);

  gtk_label_set_label (self->name_value, info->name);
  gtk_label_set_label (self->format_value, info->layout);
  gtk_label_set_label (self->weights_value, info->dtype);
  g_autofree char *setting = g_settings_get_string (cl_session_get_settings (self->session), "precision");
  g_autofree char *arithmetic = arithmetic_text (info, g_strcmp0 (setting, "auto") == 0);
  gtk_label_set_label (self->arithmetic_value, arithmetic);
  gtk_label_set_label (self->params_value, params);
  gtk_label_set_label (self->vision_value, vision);
  gtk_label_set_label (self->text_value, text);
  gtk_label_set_label (self->embed_value, embed);
  gtk_label_set_label (self->tokenizer_value, info->tokenizer != NULL ? info->tokenizer : _("None: texts cannot be encoded"));
  gtk_label_set_label (self->path_value, path);
  gtk_widget_set_tooltip_text (GTK_WIDGET (self->path_value), path);
  gtk_stack_set_visible_child_name (self->details_stack, "details");
}

static void
update_recent (ClModelChooser *self)
{
  g_auto (GStrv) recent = g_settings_get_strv (cl_session_get_settings (self->session), "recent-models");
  GtkWidget *child;

  while ((child = gtk_widget_get_first_child (GTK_WIDGET (self->recent_list))) != NULL)
    gtk_list_box_remove (self->recent_list, child);
  for (char **path = recent; *path != NULL; path++)
    {
      GtkWidget *box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 2);
      g_autofree char *name = cl_model_display_name (*path);
      g_autofree char *display = g_filename_display_name (*path);
      GtkWidget *title = gtk_label_new (name);
      GtkWidget *subtitle = gtk_label_new (display);

      gtk_label_set_xalign (GTK_LABEL (title), 0);
      gtk_label_set_xalign (GTK_LABEL (subtitle), 0);
      gtk_label_set_ellipsize (GTK_LABEL (subtitle), PANGO_ELLIPSIZE_MIDDLE);
      gtk_widget_add_css_class (subtitle, "caption");
      gtk_widget_add_css_class (subtitle, "dim-label");
      gtk_box_append (GTK_BOX (box), title);
      gtk_box_append (GTK_BOX (box), subtitle);
      gtk_widget_set_margin_top (box, 8);
      gtk_widget_set_margin_bottom (box, 8);
      gtk_widget_set_margin_start (box, 12);
      gtk_widget_set_margin_end (box, 12);
      g_object_set_data_full (G_OBJECT (box), "path", g_strdup (*path), g_free);
      gtk_list_box_append (self->recent_list, box);
    }
  gtk_widget_set_visible (self->recent_box, recent[0] != NULL);
}

static void
set_busy (ClModelChooser *self, gboolean busy, const char *status)
{
  if (self->busy != busy)
    {
      self->busy = busy;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_BUSY]);
    }
  gtk_label_set_label (self->status_label, status);
  gtk_widget_set_visible (GTK_WIDGET (self->status_label), status != NULL);
}

static void
show_error (ClModelChooser *self, const char *message)
{
  gtk_label_set_label (self->error_label, message);
  gtk_widget_set_visible (GTK_WIDGET (self->error_label), message != NULL);
}

static void
load_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GError) error = NULL;
  gboolean ok = cl_session_load_model_finish (CL_SESSION (source), result, &error);
  g_autoptr (ClModelChooser) self = g_weak_ref_get (user_data);

  cl_weak_ref_free (user_data);
  if (self == NULL)
    return;
  if (!ok)
    {
      set_busy (self, FALSE, NULL);
      g_autofree char *message = g_strdup_printf (_("Could not load the model: %s"), error->message);
      show_error (self, message);
      return;
    }
  const ClModelInfo *info = cl_session_get_model_info (self->session);
  g_autofree char *status = g_strdup_printf (_("Loaded %s."), info != NULL ? info->name : "");
  set_busy (self, FALSE, status);
}

static void
load_model (ClModelChooser *self, const char *path)
{
  GWeakRef *ref = cl_weak_ref_new (self);
  g_autofree char *name = cl_model_display_name (path);
  g_autofree char *status = g_strdup_printf (_("Loading %s…"), name);

  show_error (self, NULL);
  set_busy (self, TRUE, status);
  cl_session_load_model (self->session, path, gtk_editable_get_text (GTK_EDITABLE (self->tokenizer_entry)),
                         gtk_editable_get_text (GTK_EDITABLE (self->config_entry)), TRUE, load_done, ref);
}

static void
action_load (GtkWidget *widget, const char *action_name, GVariant *parameter)
{
  load_model (CL_MODEL_CHOOSER (widget), g_variant_get_string (parameter, NULL));
}

/* ---------------------------------------------------------------- choosing files */

typedef enum { PICK_MODEL_FOLDER, PICK_MODEL_FILE, PICK_TOKENIZER, PICK_CONFIG } PickKind;

static void
picked (gpointer owner, GFile *file, gpointer data)
{
  ClModelChooser *self = owner;
  g_autofree char *path = g_file_get_path (file);

  if (path == NULL)
    return;
  switch ((PickKind) GPOINTER_TO_INT (data))
    {
    case PICK_MODEL_FOLDER:
    case PICK_MODEL_FILE:
      load_model (self, path);
      break;
    case PICK_TOKENIZER:
      gtk_editable_set_text (GTK_EDITABLE (self->tokenizer_entry), path);
      break;
    case PICK_CONFIG:
      gtk_editable_set_text (GTK_EDITABLE (self->config_entry), path);
      break;
    }
}

static void
pick (ClModelChooser *self, PickKind kind)
{
  static const char *const titles[] = {
    N_("Open a Hugging Face or OpenCLIP Model Folder"), N_("Open a Model File"), N_("Choose a Tokenizer"),
    N_("Choose a Model Configuration"),
  };
  ClFileChooserOptions options = {
    .title = _(titles[kind]),
    .action = kind == PICK_MODEL_FOLDER ? GTK_FILE_CHOOSER_ACTION_SELECT_FOLDER : GTK_FILE_CHOOSER_ACTION_OPEN,
    .accept_label = _("_Open"),
    .filter_name = kind == PICK_MODEL_FILE ? _("safetensors files") : NULL,
    .filter_suffix = "safetensors",
  };

  cl_file_chooser_show (GTK_WIDGET (self), &options, picked, GINT_TO_POINTER (kind));
}

static void on_pick_folder (ClModelChooser *self) { pick (self, PICK_MODEL_FOLDER); }

/* A model downloaded or picked on the Get Models page: loaded, its details shown on the first page. */
static void
on_hub_model_chosen (ClModelChooser *self, const char *snapshot_dir)
{
  load_model (self, snapshot_dir);
  gtk_stack_set_visible_child_name (self->pages, "choose");
}
static void on_pick_file (ClModelChooser *self) { pick (self, PICK_MODEL_FILE); }
static void on_pick_tokenizer (ClModelChooser *self) { pick (self, PICK_TOKENIZER); }
static void on_pick_config (ClModelChooser *self) { pick (self, PICK_CONFIG); }

static void
on_use_builtin (ClModelChooser *self)
{
  if (self->builtin_path != NULL)
    load_model (self, self->builtin_path);
}

static void
on_recent_activated (ClModelChooser *self, GtkListBoxRow *row)
{
  const char *path = g_object_get_data (G_OBJECT (gtk_list_box_row_get_child (row)), "path");
  if (path != NULL)
    load_model (self, path);
}

/* ---------------------------------------------------------------- GObject */

static void
cl_model_chooser_dispose (GObject *object)
{
  ClModelChooser *self = CL_MODEL_CHOOSER (object);

  if (self->session != NULL)
    g_signal_handlers_disconnect_by_data (self->session, self);
  if (self->session != NULL)
    g_signal_handlers_disconnect_by_data (cl_session_get_settings (self->session), self);
  g_clear_object (&self->session);
  gtk_widget_dispose_template (GTK_WIDGET (object), CL_TYPE_MODEL_CHOOSER);
  G_OBJECT_CLASS (cl_model_chooser_parent_class)->dispose (object);
}

static void
cl_model_chooser_finalize (GObject *object)
{
  g_free (CL_MODEL_CHOOSER (object)->builtin_path);
  G_OBJECT_CLASS (cl_model_chooser_parent_class)->finalize (object);
}

static void
cl_model_chooser_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  ClModelChooser *self = CL_MODEL_CHOOSER (object);

  switch (prop_id)
    {
    case PROP_BUSY:
      g_value_set_boolean (value, self->busy);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
cl_model_chooser_class_init (ClModelChooserClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = cl_model_chooser_dispose;
  object_class->finalize = cl_model_chooser_finalize;
  object_class->get_property = cl_model_chooser_get_property;
  g_type_ensure (CL_TYPE_HUB_PAGE);
  properties[PROP_BUSY] = g_param_spec_boolean ("busy", NULL, NULL, FALSE,
                                                G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);
  gtk_widget_class_install_action (widget_class, "chooser.load", "s", action_load);
  gtk_widget_class_set_template_from_resource (widget_class, "/org/cliplab/ClipLab/ui/cl-model-chooser.ui");
  gtk_widget_class_bind_template_child (widget_class, ClModelChooser, details_stack);
  gtk_widget_class_bind_template_child (widget_class, ClModelChooser, name_value);
  gtk_widget_class_bind_template_child (widget_class, ClModelChooser, format_value);
  gtk_widget_class_bind_template_child (widget_class, ClModelChooser, weights_value);
  gtk_widget_class_bind_template_child (widget_class, ClModelChooser, arithmetic_value);
  gtk_widget_class_bind_template_child (widget_class, ClModelChooser, params_value);
  gtk_widget_class_bind_template_child (widget_class, ClModelChooser, vision_value);
  gtk_widget_class_bind_template_child (widget_class, ClModelChooser, text_value);
  gtk_widget_class_bind_template_child (widget_class, ClModelChooser, embed_value);
  gtk_widget_class_bind_template_child (widget_class, ClModelChooser, tokenizer_value);
  gtk_widget_class_bind_template_child (widget_class, ClModelChooser, path_value);
  gtk_widget_class_bind_template_child (widget_class, ClModelChooser, no_model_label);
  gtk_widget_class_bind_template_child (widget_class, ClModelChooser, builtin_subtitle);
  gtk_widget_class_bind_template_child (widget_class, ClModelChooser, builtin_button);
  gtk_widget_class_bind_template_child (widget_class, ClModelChooser, folder_button);
  gtk_widget_class_bind_template_child (widget_class, ClModelChooser, tokenizer_entry);
  gtk_widget_class_bind_template_child (widget_class, ClModelChooser, config_entry);
  gtk_widget_class_bind_template_child (widget_class, ClModelChooser, recent_box);
  gtk_widget_class_bind_template_child (widget_class, ClModelChooser, recent_list);
  gtk_widget_class_bind_template_child (widget_class, ClModelChooser, status_label);
  gtk_widget_class_bind_template_child (widget_class, ClModelChooser, error_label);
  gtk_widget_class_bind_template_child (widget_class, ClModelChooser, pages);
  gtk_widget_class_bind_template_callback (widget_class, on_pick_folder);
  gtk_widget_class_bind_template_callback (widget_class, on_pick_file);
  gtk_widget_class_bind_template_callback (widget_class, on_pick_tokenizer);
  gtk_widget_class_bind_template_callback (widget_class, on_pick_config);
  gtk_widget_class_bind_template_callback (widget_class, on_use_builtin);
  gtk_widget_class_bind_template_callback (widget_class, on_recent_activated);
  gtk_widget_class_bind_template_callback (widget_class, on_hub_model_chosen);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Escape, 0, "window.close", NULL);
}

static void
cl_model_chooser_init (ClModelChooser *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
}

GtkWindow *
cl_model_chooser_new (GtkWindow *parent, ClSession *session)
{
  ClModelChooser *self = g_object_new (CL_TYPE_MODEL_CHOOSER, "transient-for", parent, "modal", TRUE, NULL);
  GSettings *settings = cl_session_get_settings (session);
  g_autofree char *tokenizer = g_settings_get_string (settings, "tokenizer-path");
  g_autofree char *config = g_settings_get_string (settings, "model-config-path");

  self->session = g_object_ref (session);
  self->builtin_path = cl_session_find_builtin_model ();
  if (self->builtin_path != NULL)
    {
      g_autofree char *display = g_filename_display_name (self->builtin_path);
      g_autofree char *text = g_strdup_printf (_("A small model trained by ClipLab on coloured shapes and clothing; "
                                                 "it knows nothing else. For real photos, open a pretrained CLIP "
                                                 "folder or file below.\n%s"), display);
      gtk_label_set_label (self->builtin_subtitle, text);
    }
  else
    {
      g_autofree char *text = g_strdup_printf (_("Not installed (looked for %s)"), CLIPLAB_BUILTIN_MODEL);
      gtk_label_set_label (self->builtin_subtitle, text);
    }
  gtk_widget_set_sensitive (GTK_WIDGET (self->builtin_button), self->builtin_path != NULL);
  gtk_editable_set_text (GTK_EDITABLE (self->tokenizer_entry), tokenizer);
  gtk_editable_set_text (GTK_EDITABLE (self->config_entry), config);

  g_signal_connect_swapped (session, "notify::model-info", G_CALLBACK (update_details), self);
  g_signal_connect_swapped (session, "notify::model-state", G_CALLBACK (update_details), self);
  g_signal_connect_swapped (settings, "changed::recent-models", G_CALLBACK (update_recent), self);
  update_details (self);
  update_recent (self);
  /* It opens on its first choice: the first widget that takes the focus is a value (a selectable
   * label), which would open focused and selected. */
  gtk_window_set_focus (GTK_WINDOW (self), gtk_widget_get_sensitive (GTK_WIDGET (self->builtin_button))
                                           ? GTK_WIDGET (self->builtin_button) : GTK_WIDGET (self->folder_button));
  return GTK_WINDOW (self);
}
