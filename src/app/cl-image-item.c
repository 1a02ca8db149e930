/* cl-image-item.c — one image: file facts, data set row, thumbnail and prediction. */
#include "cl-image-item.h"

struct _ClImageItem {
  GObject parent_instance;

  GFile *file;
  char *path;
  char *member;
  char *uri;
  char *name;
  char *content_type;
  char *sort_key;
  gint64 size;
  gint64 mtime;
  guint index;
  gboolean trashed;

  char *caption;
  char *label;
  guint line;

  GdkTexture *thumbnail;
  gboolean thumbnail_failed;

  char *prediction;
  double confidence;
};

G_DEFINE_FINAL_TYPE (ClImageItem, cl_image_item, G_TYPE_OBJECT)

enum {
  PROP_0,
  PROP_NAME,
  PROP_CAPTION,
  PROP_LABEL,
  PROP_THUMBNAIL,
  PROP_THUMBNAIL_FAILED,
  PROP_PREDICTION,
  PROP_CONFIDENCE,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

static void
cl_image_item_finalize (GObject *object)
{
  ClImageItem *self = CL_IMAGE_ITEM (object);

  g_clear_object (&self->file);
  g_free (self->path);
  g_free (self->member);
  g_free (self->uri);
  g_free (self->name);
  g_free (self->content_type);
  g_free (self->sort_key);
  g_free (self->caption);
  g_free (self->label);
  g_clear_object (&self->thumbnail);
  g_free (self->prediction);

  G_OBJECT_CLASS (cl_image_item_parent_class)->finalize (object);
}

static void
cl_image_item_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  ClImageItem *self = CL_IMAGE_ITEM (object);

  switch (prop_id)
    {
    case PROP_NAME:
      g_value_set_string (value, self->name);
      break;
    case PROP_CAPTION:
      g_value_set_string (value, self->caption);
      break;
    case PROP_LABEL:
      g_value_set_string (value, self->label);
      break;
    case PROP_THUMBNAIL:
      g_value_set_object (value, self->thumbnail);
      break;
    case PROP_THUMBNAIL_FAILED:
      g_value_set_boolean (value, self->thumbnail_failed);
      break;
    case PROP_PREDICTION:
      g_value_set_string (value, self->prediction);
      break;
    case PROP_CONFIDENCE:
      g_value_set_double (value, self->confidence);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
cl_image_item_class_init (ClImageItemClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = cl_image_item_finalize;
  object_class->get_property = cl_image_item_get_property;

  const GParamFlags ro = G_PARAM_READABLE | G_PARAM_STATIC_STRINGS | G_PARAM_EXPLICIT_NOTIFY;
  properties[PROP_NAME] = g_param_spec_string ("name", NULL, NULL, NULL, ro);
  properties[PROP_CAPTION] = g_param_spec_string ("caption", NULL, NULL, NULL, ro);
  properties[PROP_LABEL] = g_param_spec_string ("label", NULL, NULL, NULL, ro);
  properties[PROP_THUMBNAIL] = g_param_spec_object ("thumbnail", NULL, NULL, GDK_TYPE_TEXTURE, ro);
  properties[PROP_THUMBNAIL_FAILED] = g_param_spec_boolean ("thumbnail-failed", NULL, NULL, FALSE, ro);
  properties[PROP_PREDICTION] = g_param_spec_string ("prediction", NULL, NULL, NULL, ro);
  properties[PROP_CONFIDENCE] = g_param_spec_double ("confidence", NULL, NULL, -1, 1, -1, ro);
  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
cl_image_item_init (ClImageItem *self)
{
  self->confidence = -1;
}

ClImageItem *
cl_image_item_new (GFile *file, const char *display_name, const char *content_type, gint64 size,
                   gint64 mtime)
{
  ClImageItem *self = g_object_new (CL_TYPE_IMAGE_ITEM, NULL);

  self->file = g_object_ref (file);
  self->path = g_file_get_path (file);
  self->uri = g_file_get_uri (file);
  self->name = g_strdup (display_name);
  self->content_type = g_strdup (content_type);
  self->sort_key = g_utf8_collate_key_for_filename (display_name, -1);
  self->size = size;
  self->mtime = mtime;
  return self;
}

GFile *cl_image_item_get_file (ClImageItem *self) { return self->file; }
const char *cl_image_item_get_member (ClImageItem *self) { return self->member; }

void
cl_image_item_set_member (ClImageItem *self, const char *member)
{
  g_free (self->member);
  self->member = g_strdup (member);
}
const char *cl_image_item_get_path (ClImageItem *self) { return self->path; }
const char *cl_image_item_get_uri (ClImageItem *self) { return self->uri; }
const char *cl_image_item_get_name (ClImageItem *self) { return self->name; }
const char *cl_image_item_get_content_type (ClImageItem *self) { return self->content_type; }
const char *cl_image_item_get_sort_key (ClImageItem *self) { return self->sort_key; }
gint64 cl_image_item_get_size (ClImageItem *self) { return self->size; }
gint64 cl_image_item_get_mtime (ClImageItem *self) { return self->mtime; }
gboolean cl_image_item_get_exists (ClImageItem *self) { return self->size >= 0; }
gboolean cl_image_item_get_trashed (ClImageItem *self) { return self->trashed; }
void cl_image_item_set_trashed (ClImageItem *self, gboolean trashed) { self->trashed = trashed; }
guint cl_image_item_get_index (ClImageItem *self) { return self->index; }
void cl_image_item_set_index (ClImageItem *self, guint index) { self->index = index; }
const char *cl_image_item_get_caption (ClImageItem *self) { return self->caption; }
const char *cl_image_item_get_label (ClImageItem *self) { return self->label; }
guint cl_image_item_get_line (ClImageItem *self) { return self->line; }
GdkTexture *cl_image_item_get_thumbnail (ClImageItem *self) { return self->thumbnail; }
gboolean cl_image_item_get_thumbnail_failed (ClImageItem *self) { return self->thumbnail_failed; }
const char *cl_image_item_get_prediction (ClImageItem *self) { return self->prediction; }
double cl_image_item_get_confidence (ClImageItem *self) { return self->confidence; }

void
cl_image_item_set_dataset_row (ClImageItem *self, const char *caption, const char *label, guint line)
{
  g_free (self->caption);
  self->caption = g_strdup (caption);
  g_free (self->label);
  self->label = (label != NULL && *label != '\0') ? g_strdup (label) : NULL;
  self->line = line;
}

void
cl_image_item_set_thumbnail (ClImageItem *self, GdkTexture *texture)
{
  if (g_set_object (&self->thumbnail, texture))
    g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_THUMBNAIL]);
}

void
cl_image_item_set_thumbnail_failed (ClImageItem *self, gboolean failed)
{
  if (self->thumbnail_failed == failed)
    return;
  self->thumbnail_failed = failed;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_THUMBNAIL_FAILED]);
}

void
cl_image_item_set_prediction (ClImageItem *self, const char *prediction, double confidence)
{
  gboolean changed = FALSE;

  if (g_strcmp0 (self->prediction, prediction) != 0)
    {
      g_free (self->prediction);
      self->prediction = g_strdup (prediction);
      changed = TRUE;
    }
  if (self->confidence != confidence)
    {
      self->confidence = confidence;
      changed = TRUE;
    }
  if (changed)
    {
      /* One notification: cells redraw their badge once per update. */
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_PREDICTION]);
    }
}
