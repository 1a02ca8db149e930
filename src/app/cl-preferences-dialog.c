/* cl-preferences-dialog.c — settings bound straight to GSettings. */
#include "cl-preferences-dialog.h"

#include "clip.h"

#include <glib/gi18n.h>

struct _ClPreferencesDialog {
  GtkWindow parent_instance;

  GtkSpinButton *threads_spin;
  GtkSwitch *exif_switch;
  GtkDropDown *precision_dropdown;
  GtkLabel *precision_note;
  GtkDropDown *thumbnail_dropdown;
  GtkDropDown *style_dropdown;
};

G_DEFINE_FINAL_TYPE (ClPreferencesDialog, cl_preferences_dialog, GTK_TYPE_WINDOW)

/* Enum keys ↔ a drop-down's position: the enum's nick is looked up by position. */
static gboolean
enum_to_position (GValue *value, GVariant *variant, gpointer user_data)
{
  const char *const *nicks = user_data;
  const char *nick = g_variant_get_string (variant, NULL);

  for (guint i = 0; nicks[i] != NULL; i++)
    if (g_str_equal (nicks[i], nick))
      {
        g_value_set_uint (value, i);
        return TRUE;
      }
  return FALSE;
}

static GVariant *
position_to_enum (const GValue *value, const GVariantType *type, gpointer user_data)
{
  const char *const *nicks = user_data;
  guint position = g_value_get_uint (value);

  if (position >= g_strv_length ((char **) nicks))
    return NULL;
  return g_variant_new_string (nicks[position]);
}

static const char *const thumbnail_nicks[] = { "small", "medium", "large", NULL };
static const char *const style_nicks[] = { "system", "light", "dark", NULL };
static const char *const precision_nicks[] = { "auto", "f32", "bf16", "int8", NULL };

/* Which kernels this CPU runs the reduced precisions on, and what that means for speed (AMX
 * multiplied ViT-B/32 3–5 times faster than float32 on a Sapphire Rapids; without native bfloat16
 * the weights are widened on the fly, which saves memory, not time, and Automatic does not
 * consider it). */
static char *
precision_note_text (void)
{
  const char *bf16 = clip_precision_kernel_name (CLIP_PRECISION_BF16);
  const char *int8 = clip_precision_kernel_name (CLIP_PRECISION_INT8);
  const char *speed = "";
  if (g_str_has_prefix (bf16, "amx"))
    speed = _("Its AMX tiles make both several times faster than Float32.");
  else if (g_str_has_prefix (bf16, "portable") || g_str_has_prefix (bf16, "avx2"))
    speed = _("It has no native BFloat16: that saves memory, not time.");
  /* Translators: the first two are kernel names such as "amx-bf16" and "avx512-vnni-int8". */
  return g_strdup_printf (_("This CPU runs BFloat16 on %s and Int8 on %s. %s"), bf16, int8, speed);
}

static void
cl_preferences_dialog_class_init (ClPreferencesDialogClass *klass)
{
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  gtk_widget_class_set_template_from_resource (widget_class, "/org/cliplab/ClipLab/ui/cl-preferences-dialog.ui");
  gtk_widget_class_bind_template_child (widget_class, ClPreferencesDialog, threads_spin);
  gtk_widget_class_bind_template_child (widget_class, ClPreferencesDialog, exif_switch);
  gtk_widget_class_bind_template_child (widget_class, ClPreferencesDialog, precision_dropdown);
  gtk_widget_class_bind_template_child (widget_class, ClPreferencesDialog, precision_note);
  gtk_widget_class_bind_template_child (widget_class, ClPreferencesDialog, thumbnail_dropdown);
  gtk_widget_class_bind_template_child (widget_class, ClPreferencesDialog, style_dropdown);
  gtk_widget_class_add_binding_action (widget_class, GDK_KEY_Escape, 0, "window.close", NULL);
}

static void
cl_preferences_dialog_init (ClPreferencesDialog *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
  gtk_spin_button_set_range (self->threads_spin, 0, g_get_num_processors ());
  g_autofree char *note = precision_note_text ();
  gtk_label_set_text (self->precision_note, note);
}

GtkWindow *
cl_preferences_dialog_new (GtkWindow *parent, GSettings *settings)
{
  ClPreferencesDialog *self = g_object_new (CL_TYPE_PREFERENCES_DIALOG, "transient-for", parent, "modal", TRUE,
                                            NULL);

  g_settings_bind (settings, "threads", self->threads_spin, "value", G_SETTINGS_BIND_DEFAULT);
  g_settings_bind (settings, "exif-orientation", self->exif_switch, "active", G_SETTINGS_BIND_DEFAULT);
  g_settings_bind_with_mapping (settings, "precision", self->precision_dropdown, "selected", G_SETTINGS_BIND_DEFAULT,
                                enum_to_position, position_to_enum, (gpointer) precision_nicks, NULL);
  g_settings_bind_with_mapping (settings, "thumbnail-size", self->thumbnail_dropdown, "selected",
                                G_SETTINGS_BIND_DEFAULT, enum_to_position, position_to_enum,
                                (gpointer) thumbnail_nicks, NULL);
  g_settings_bind_with_mapping (settings, "style", self->style_dropdown, "selected", G_SETTINGS_BIND_DEFAULT,
                                enum_to_position, position_to_enum, (gpointer) style_nicks, NULL);
  return GTK_WINDOW (self);
}
