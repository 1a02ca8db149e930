/* cl-status-page.c — GNOME's status page pattern without libadwaita. */
#include "cl-status-page.h"

struct _ClStatusPage {
  GtkWidget parent_instance;

  GtkWidget *scroller;
  GtkWidget *box;
  GtkImage *image;
  GtkLabel *title_label;
  GtkLabel *description_label;
  GtkWidget *child;
};

G_DEFINE_FINAL_TYPE (ClStatusPage, cl_status_page, GTK_TYPE_WIDGET)

enum { PROP_0, PROP_ICON_NAME, PROP_TITLE, PROP_DESCRIPTION, PROP_CHILD, N_PROPS };
static GParamSpec *properties[N_PROPS];

void
cl_status_page_set_icon_name (ClStatusPage *self, const char *icon_name)
{
  gtk_image_set_from_icon_name (self->image, icon_name);
  gtk_widget_set_visible (GTK_WIDGET (self->image), icon_name != NULL);
}

void
cl_status_page_set_title (ClStatusPage *self, const char *title)
{
  gtk_label_set_label (self->title_label, title);
  gtk_widget_set_visible (GTK_WIDGET (self->title_label), title != NULL && *title != '\0');
}

void
cl_status_page_set_description (ClStatusPage *self, const char *description)
{
  gtk_label_set_label (self->description_label, description);
  gtk_widget_set_visible (GTK_WIDGET (self->description_label), description != NULL && *description != '\0');
}

void
cl_status_page_set_child (ClStatusPage *self, GtkWidget *child)
{
  if (self->child == child)
    return;
  if (self->child != NULL)
    gtk_box_remove (GTK_BOX (self->box), self->child);
  self->child = child;
  if (child != NULL)
    {
      gtk_widget_set_halign (child, GTK_ALIGN_CENTER);
      gtk_widget_set_margin_top (child, 12);
      gtk_box_append (GTK_BOX (self->box), child);
    }
}

static void
cl_status_page_set_property (GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
  ClStatusPage *self = CL_STATUS_PAGE (object);

  switch (prop_id)
    {
    case PROP_ICON_NAME:
      cl_status_page_set_icon_name (self, g_value_get_string (value));
      break;
    case PROP_TITLE:
      cl_status_page_set_title (self, g_value_get_string (value));
      break;
    case PROP_DESCRIPTION:
      cl_status_page_set_description (self, g_value_get_string (value));
      break;
    case PROP_CHILD:
      cl_status_page_set_child (self, g_value_get_object (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
cl_status_page_dispose (GObject *object)
{
  gtk_widget_dispose_template (GTK_WIDGET (object), CL_TYPE_STATUS_PAGE);
  G_OBJECT_CLASS (cl_status_page_parent_class)->dispose (object);
}

static void
cl_status_page_class_init (ClStatusPageClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->set_property = cl_status_page_set_property;
  object_class->dispose = cl_status_page_dispose;

  const GParamFlags wo = G_PARAM_WRITABLE | G_PARAM_STATIC_STRINGS;
  properties[PROP_ICON_NAME] = g_param_spec_string ("icon-name", NULL, NULL, NULL, wo);
  properties[PROP_TITLE] = g_param_spec_string ("title", NULL, NULL, NULL, wo);
  properties[PROP_DESCRIPTION] = g_param_spec_string ("description", NULL, NULL, NULL, wo);
  properties[PROP_CHILD] = g_param_spec_object ("child", NULL, NULL, GTK_TYPE_WIDGET, wo);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  gtk_widget_class_set_template_from_resource (widget_class, "/org/cliplab/ClipLab/ui/cl-status-page.ui");
  gtk_widget_class_bind_template_child (widget_class, ClStatusPage, scroller);
  gtk_widget_class_bind_template_child (widget_class, ClStatusPage, box);
  gtk_widget_class_bind_template_child (widget_class, ClStatusPage, image);
  gtk_widget_class_bind_template_child (widget_class, ClStatusPage, title_label);
  gtk_widget_class_bind_template_child (widget_class, ClStatusPage, description_label);
  gtk_widget_class_set_layout_manager_type (widget_class, GTK_TYPE_BIN_LAYOUT);
  gtk_widget_class_set_css_name (widget_class, "statuspage");
}

static void
cl_status_page_init (ClStatusPage *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
}
