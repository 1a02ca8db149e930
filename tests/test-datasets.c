/* test-datasets.c — the data set formats beside the CSV: image folders, WebDataset shards (written
 * here with libarchive, JPEG, PNG and WebP members), COCO captions and Karpathy splits; the same
 * images in two formats give the same numbers; retrieval with several captions per image and
 * repeated caption texts against a computation written out here; each malformed input reported with
 * its file and entry. */
#include "clip.h"
#include "index-private.h"   /* clip_index_hash_content */
#include "testutil.h"

#include <archive.h>
#include <archive_entry.h>
#include <gdk-pixbuf/gdk-pixbuf.h>
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

/* ---------------------------------------------------------------- making data sets */

/* A WIDTH × HEIGHT picture whose colours depend on SEED, encoded as FORMAT ("png", "jpeg", "webp"). */
static GBytes *
encode_picture (const char *format, int width, int height, int seed)
{
  g_autoptr (GdkPixbuf) pixbuf = gdk_pixbuf_new (GDK_COLORSPACE_RGB, FALSE, 8, width, height);
  guint8 *pixels = gdk_pixbuf_get_pixels (pixbuf);
  int stride = gdk_pixbuf_get_rowstride (pixbuf);
  for (int y = 0; y < height; y++)
    for (int x = 0; x < width; x++)
      for (int c = 0; c < 3; c++)
        pixels[y * stride + x * 3 + c] = (guint8) ((x * (seed + 3) + y * (7 - c) + seed * 40 + c * 60) & 0xff);
  gchar *buffer = NULL;
  gsize size = 0;
  GError *error = NULL;
  g_assert_true (gdk_pixbuf_save_to_buffer (pixbuf, &buffer, &size, format, &error, NULL));
  g_assert_no_error (error);
  return g_bytes_new_take (buffer, size);
}

static void
write_bytes (const char *dir, const char *name, GBytes *bytes)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  g_autofree char *parent = g_path_get_dirname (path);
  g_assert_cmpint (g_mkdir_with_parents (parent, 0755), ==, 0);
  gsize size;
  const void *data = g_bytes_get_data (bytes, &size);
  tu_write_file (path, data, size);
}

typedef struct {
  const char *name;
  GBytes     *data;
} TarMember;

/* Writes the members into a tar at PATH with libarchive (ustar, as webdataset's tarfile writes),
 * compressed with libarchive's filter COMPRESSION ("gzip", "xz", "zstd") unless it is NULL. */
static void
write_tar_compressed (const char *path, const TarMember *members, int n, const char *compression)
{
  struct archive *archive = archive_write_new ();
  archive_write_set_format_ustar (archive);
  if (compression != NULL)
    g_assert_cmpint (archive_write_add_filter_by_name (archive, compression), ==, ARCHIVE_OK);
  g_assert_cmpint (archive_write_open_filename (archive, path), ==, ARCHIVE_OK);
  for (int i = 0; i < n; i++)
    {
      gsize size;
      const void *data = g_bytes_get_data (members[i].data, &size);
      struct archive_entry *entry = archive_entry_new ();
      archive_entry_set_pathname (entry, members[i].name);
      archive_entry_set_size (entry, (la_int64_t) size);
      archive_entry_set_filetype (entry, AE_IFREG);
      archive_entry_set_perm (entry, 0644);
      g_assert_cmpint (archive_write_header (archive, entry), ==, ARCHIVE_OK);
      g_assert_cmpint (archive_write_data (archive, data, size), ==, (la_ssize_t) size);
      archive_entry_free (entry);
    }
  g_assert_cmpint (archive_write_close (archive), ==, ARCHIVE_OK);
  archive_write_free (archive);
}

static void
write_tar (const char *path, const TarMember *members, int n)
{
  write_tar_compressed (path, members, n, NULL);
}

static GBytes *
text_bytes (const char *text)
{
  return g_bytes_new (text, strlen (text));
}

/* Six pictures in three classes, the same bytes for every format below: picture i is class i % 3
 * ("bird", "cat", "dog"), encoded as PNG, JPEG or WebP in turn, with two captions each. */
enum { N_PICTURES = 6 };
static const char *const class_names[] = { "bird", "cat", "dog" };
static const char *const picture_formats[] = { "png", "jpeg", "webp" };
static const char *const picture_extensions[] = { "png", "jpg", "webp" };

typedef struct {
  GBytes *data[N_PICTURES];
  char   *name[N_PICTURES];      /* "sample0003.webp" */
  char   *caption[N_PICTURES][2];
} Pictures;

static void
pictures_init (Pictures *pictures)
{
  for (int i = 0; i < N_PICTURES; i++)
    {
      pictures->data[i] = encode_picture (picture_formats[i % 3], 40 + 4 * i, 30 + 2 * i, i);
      pictures->name[i] = g_strdup_printf ("sample%04d.%s", i, picture_extensions[i % 3]);
      /* Short: the tiny model reads 14 bytes of a caption. */
      pictures->caption[i][0] = g_strdup_printf ("%s %d", class_names[i % 3], i);
      /* The second caption is the same text for the pictures of a class: repeated captions. */
      pictures->caption[i][1] = g_strdup_printf ("%s pic", class_names[i % 3]);
    }
}

static void
pictures_clear (Pictures *pictures)
{
  for (int i = 0; i < N_PICTURES; i++)
    {
      g_bytes_unref (pictures->data[i]);
      g_free (pictures->name[i]);
      g_free (pictures->caption[i][0]);
      g_free (pictures->caption[i][1]);
    }
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Pictures, pictures_clear)

/* The pictures as CLIP_benchmark's WebDataset: two shards, .cls (CLASSIFICATION) or .txt members,
 * named N.EXTENSION and compressed with COMPRESSION (NULL: plain tars). */
static char *
write_webdataset_compressed (const Pictures *pictures, const char *name, gboolean classification,
                             const char *compression, const char *extension)
{
  char *root = tu_make_dir (name);
  tu_write_text (root, "classnames.txt", "bird\ncat\ndog\n");
  tu_write_text (root, "zeroshot_classification_templates.txt", "a photo of a {c}.\nart of the {c}.\n");
  tu_write_text (root, "test/nshards.txt", "2\n");
  for (int shard = 0; shard < 2; shard++)
    {
      TarMember members[N_PICTURES];
      g_autoptr (GPtrArray) owned = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
      g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
      int n = 0;
      for (int i = shard * 3; i < shard * 3 + 3; i++)
        {
          g_autofree char *key = g_strdup_printf ("sample%04d", i);
          members[n++] = (TarMember) { pictures->name[i], pictures->data[i] };
          g_autofree char *text = classification
                                    ? g_strdup_printf ("%d", i % 3)
                                    : g_strdup_printf ("%s\n%s\n", pictures->caption[i][0], pictures->caption[i][1]);
          GBytes *bytes = text_bytes (text);
          g_ptr_array_add (owned, bytes);
          char *member = g_strdup_printf ("%s.%s", key, classification ? "cls" : "txt");
          g_ptr_array_add (names, member);
          members[n++] = (TarMember) { member, bytes };
        }
      g_autofree char *tar_name = g_strdup_printf ("test/%d%s", shard, extension);
      g_autofree char *path = g_build_filename (root, tar_name, NULL);
      write_tar_compressed (path, members, n, compression);
    }
  return root;
}

static char *
write_webdataset (const Pictures *pictures, const char *name, gboolean classification)
{
  return write_webdataset_compressed (pictures, name, classification, NULL, ".tar");
}

/* The same pictures as an image folder: CLASS/sampleNNNN.EXT. */
static char *
write_image_folder (const Pictures *pictures, const char *name)
{
  char *root = tu_make_dir (name);
  for (int i = 0; i < N_PICTURES; i++)
    {
      g_autofree char *entry = g_build_filename (class_names[i % 3], pictures->name[i], NULL);
      write_bytes (root, entry, pictures->data[i]);
    }
  return root;
}

/* The same pictures and captions as a Karpathy split (all in "test", plus one "train" image). */
static char *
write_karpathy (const Pictures *pictures, const char *name)
{
  g_autofree char *root = tu_make_dir (name);
  /* A damaged entry first (no sentences): reported, and it does not hide the format. */
  g_autoptr (GString) json = g_string_new ("{\"images\": [{\"filename\": \"first.png\", \"split\": \"test\"}, ");
  for (int i = 0; i < N_PICTURES; i++)
    {
      g_autofree char *entry = g_build_filename ("flickr30k-images", pictures->name[i], NULL);
      write_bytes (root, entry, pictures->data[i]);
      g_string_append_printf (json, "%s{\"filename\": \"%s\", \"imgid\": %d, \"split\": \"test\", \"sentences\": "
                              "[{\"raw\": \"%s\", \"tokens\": []}, {\"raw\": \"%s\", \"tokens\": []}]}",
                              i > 0 ? ", " : "", pictures->name[i], i, pictures->caption[i][0],
                              pictures->caption[i][1]);
    }
  g_string_append (json, ", {\"filename\": \"other.png\", \"split\": \"train\", \"sentences\": [{\"raw\": \"x\"}]}");
  g_string_append (json, "], \"dataset\": \"flickr30k\"}");
  tu_write_text (root, "dataset_flickr30k.json", json->str);
  return g_build_filename (root, "dataset_flickr30k.json", NULL);
}

static ClipDataset *
open_dataset (const char *path, const char *split, const char *image_root)
{
  ClipDatasetOptions options;
  clip_dataset_options_init (&options);
  options.split = split;
  options.image_root = image_root;
  GError *error = NULL;
  ClipDataset *dataset = clip_dataset_open (path, &options, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (dataset);
  return dataset;
}

/* The issue whose file ends with FILE_SUFFIX and whose entry is ENTRY, with REASON_PART in its reason. */
static void
assert_issue (const ClipDataset *dataset, const char *file_suffix, const char *entry, const char *reason_part)
{
  GPtrArray *issues = clip_dataset_get_issues (dataset);
  for (guint i = 0; i < issues->len; i++)
    {
      const ClipDatasetIssue *issue = g_ptr_array_index (issues, i);
      if (issue->file != NULL && g_str_has_suffix (issue->file, file_suffix) && g_strcmp0 (issue->path, entry) == 0
          && strstr (issue->reason, reason_part) != NULL)
        return;
    }
  for (guint i = 0; i < issues->len; i++)
    {
      g_autofree char *text = clip_dataset_issue_describe (g_ptr_array_index (issues, i));
      g_test_message ("issue: %s", text);
    }
  g_error ("no issue in …%s for %s mentioning \"%s\"", file_suffix, entry != NULL ? entry : "(no entry)",
           reason_part);
}

static ClipModel *
load_tiny_model (void)
{
  g_autofree char *path = tu_shared_path ("golden/models/tiny_quickgelu/hf");
  ClipLoadOptions options;
  clip_load_options_init (&options);
  options.tokenizer_path = "bytes";
  GError *error = NULL;
  ClipModel *model = clip_model_load (path, &options, &error);
  g_assert_no_error (error);
  return model;
}

static void
prepare (ClipDataset *dataset, int size)
{
  GError *error = NULL;
  g_assert_true (clip_dataset_prepare_images (dataset, size, FALSE, 1 << 30, NULL, NULL, &error));
  g_assert_no_error (error);
}

/* The index of the image whose entry ends with NAME. */
static int
find_image (const ClipDataset *dataset, const char *name)
{
  for (int i = 0; i < clip_dataset_get_n_images (dataset); i++)
    if (g_str_has_suffix (clip_dataset_get_image_entry (dataset, i), name))
      return i;
  g_error ("no image %s", name);
}

/* ---------------------------------------------------------------- the formats */

static void
test_image_folder (void)
{
  g_auto (Pictures) pictures;
  pictures_init (&pictures);
  g_autofree char *root = write_image_folder (&pictures, "folder");
  /* Nested folders count for their class; other files and hidden ones do not; an empty class stays. */
  write_bytes (root, "cat/more/extra.png", pictures.data[0]);
  tu_write_text (root, "cat/notes.txt", "not an image");
  tu_write_text (root, "README", "a file beside the class folders");
  g_autofree char *empty = g_build_filename (root, "eel", NULL);
  g_assert_cmpint (g_mkdir_with_parents (empty, 0755), ==, 0);

  g_autoptr (ClipDataset) dataset = open_dataset (root, NULL, NULL);
  g_assert_cmpstr (clip_dataset_get_format_name (dataset), ==, "folder");
  g_assert_false (clip_dataset_has_captions (dataset));
  g_assert_cmpint (clip_dataset_get_n_labels (dataset), ==, 4);
  static const char *const sorted[] = { "bird", "cat", "dog", "eel" };
  for (int c = 0; c < 4; c++)
    g_assert_cmpstr (clip_dataset_get_label_name (dataset, c), ==, sorted[c]);
  g_assert_cmpint (clip_dataset_get_n_images (dataset), ==, N_PICTURES + 1);
  assert_issue (dataset, "folder", "eel", "no images");

  /* ImageFolder order: classes sorted, files of a folder before its subfolders. */
  static const char *const order[] = { "bird/sample0000.png", "bird/sample0003.png", "cat/sample0001.jpg",
                                       "cat/sample0004.jpg", "cat/more/extra.png", "dog/sample0002.webp",
                                       "dog/sample0005.webp" };
  static const int labels[] = { 0, 0, 1, 1, 1, 2, 2 };
  for (int i = 0; i < N_PICTURES + 1; i++)
    {
      g_assert_cmpstr (clip_dataset_get_image_entry (dataset, i), ==, order[i]);
      g_assert_cmpint (clip_dataset_get_image_label (dataset, i), ==, labels[i]);
    }
  /* One caption per image from the default template. */
  g_assert_cmpint (clip_dataset_get_size (dataset), ==, N_PICTURES + 1);
  g_assert_cmpstr (clip_dataset_get_caption (dataset, 2), ==, "a photo of a cat.");
  g_assert_cmpint (clip_dataset_get_row_image (dataset, 2), ==, 2);

  /* Templates given for training captions, {c} and {} alike, used in turn. */
  const char *templates[] = { "art of the {c}", "a {} photo" };
  ClipDatasetOptions options;
  clip_dataset_options_init (&options);
  options.templates = templates;
  options.n_templates = 2;
  GError *error = NULL;
  g_autoptr (ClipDataset) templated = clip_dataset_open (root, &options, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (clip_dataset_get_caption (templated, 0), ==, "art of the bird");
  g_assert_cmpstr (clip_dataset_get_caption (templated, 1), ==, "a bird photo");

  g_autofree char *no_classes = tu_make_dir ("folder-without-classes");
  tu_write_text (no_classes, "a.txt", "x");
  g_autoptr (ClipDataset) none = clip_dataset_open (no_classes, NULL, NULL, &error);
  g_assert_null (none);
  g_assert_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT);
  g_assert_nonnull (strstr (error->message, "no class folders"));
  g_clear_error (&error);
}

static void
test_webdataset_classification (void)
{
  g_auto (Pictures) pictures;
  pictures_init (&pictures);
  g_autofree char *root = write_webdataset (&pictures, "wds-cls", TRUE);
  g_autoptr (ClipDataset) dataset = open_dataset (root, NULL, NULL);
  g_assert_cmpstr (clip_dataset_get_format_name (dataset), ==, "webdataset");
  g_assert_true (clip_dataset_is_webdataset (root));
  g_assert_null (clip_dataset_get_image_root (dataset));
  g_assert_cmpuint (clip_dataset_get_issues (dataset)->len, ==, 0);
  g_assert_false (clip_dataset_has_captions (dataset));
  g_assert_cmpint (clip_dataset_get_n_images (dataset), ==, N_PICTURES);
  g_assert_cmpint (clip_dataset_get_n_labels (dataset), ==, 3);
  int n_templates = 0;
  const char *const *templates = clip_dataset_get_templates (dataset, &n_templates);
  g_assert_cmpint (n_templates, ==, 2);
  g_assert_cmpstr (templates[1], ==, "art of the {c}.");
  g_assert_null (templates[2]);
  for (int i = 0; i < N_PICTURES; i++)
    {
      g_assert_cmpstr (clip_dataset_get_image_entry (dataset, i), ==, pictures.name[i]);
      g_assert_cmpint (clip_dataset_get_image_label (dataset, i), ==, i % 3);
      g_assert_null (clip_dataset_get_image_path (dataset, i));  /* inside a shard */
    }
  /* Training captions come from the data set's own templates, in turn. */
  g_assert_cmpstr (clip_dataset_get_caption (dataset, 0), ==, "a photo of a bird.");
  g_assert_cmpstr (clip_dataset_get_caption (dataset, 1), ==, "art of the cat.");

  /* The split folder itself opens too, and the crops of PNG, JPEG and WebP members are those of the
   * same bytes decoded from a file. */
  g_autofree char *split_dir = g_build_filename (root, "test", NULL);
  g_autoptr (ClipDataset) from_split = open_dataset (split_dir, NULL, NULL);
  g_assert_cmpint (clip_dataset_get_n_labels (from_split), ==, 3);
  prepare (dataset, 24);
  g_autofree char *files = write_image_folder (&pictures, "wds-cls-files");
  uint8_t want[24 * 24 * 3];
  for (int i = 0; i < N_PICTURES; i++)
    {
      g_autofree char *path = g_build_filename (files, class_names[i % 3], pictures.name[i], NULL);
      GError *error = NULL;
      g_autoptr (ClipImage) image = clip_image_load (path, FALSE, &error);
      g_assert_no_error (error);
      clip_image_resize_crop (image, 24, want);
      g_assert_cmpmem (clip_dataset_get_image_crop (dataset, i), sizeof want, want, sizeof want);
      /* each member's shard, and the hash of its bytes as the folder index hashes a file's */
      g_assert_true (g_str_has_suffix (clip_dataset_get_image_shard (dataset, i), i < 3 ? "test/0.tar" : "test/1.tar"));
      uint8_t hash[16];
      gsize length;
      const void *bytes = g_bytes_get_data (pictures.data[i], &length);
      clip_index_hash_content (bytes, length, hash);
      g_assert_nonnull (clip_dataset_get_image_content_hash (dataset, i));
      g_assert_cmpmem (clip_dataset_get_image_content_hash (dataset, i), 16, hash, 16);
    }
  /* files have neither: the folder index hashes them */
  g_autoptr (ClipDataset) folder = open_dataset (files, NULL, NULL);
  prepare (folder, 24);
  g_assert_null (clip_dataset_get_image_shard (folder, 0));
  g_assert_null (clip_dataset_get_image_content_hash (folder, 0));
}

static void
test_webdataset_malformed (void)
{
  g_auto (Pictures) pictures;
  pictures_init (&pictures);
  g_autofree char *root = write_webdataset (&pictures, "wds-bad", TRUE);
  tu_write_text (root, "test/nshards.txt", "5\n");  /* 2.tar, 3.tar written below, 4.tar missing */
  g_autoptr (GBytes) garbage = text_bytes ("this is not a picture");
  g_autoptr (GBytes) nine = text_bytes ("9");
  g_autoptr (GBytes) word = text_bytes ("cat");
  g_autoptr (GBytes) zero = text_bytes ("0");
  const TarMember bad[] = {
    { "nolabel.png", pictures.data[0] },                        /* no .cls */
    { "range.png", pictures.data[0] }, { "range.cls", nine },   /* class 9 of 3 */
    { "word.png", pictures.data[0] }, { "word.cls", word },     /* not a number */
    { "garbage.jpg", garbage }, { "garbage.cls", zero },        /* fails when decoded */
    { "orphan.cls", zero },                                     /* no image */
  };
  g_autofree char *bad_path = g_build_filename (root, "test", "2.tar", NULL);
  write_tar (bad_path, bad, G_N_ELEMENTS (bad));

  /* A shard cut in the middle of its second image: the first sample is read, the rest reported. */
  g_autoptr (GBytes) big = encode_picture ("png", 200, 200, 9);
  const TarMember whole[] = {
    { "first.jpg", pictures.data[1] }, { "first.cls", zero },
    { "cut.png", big }, { "cut.cls", zero },
  };
  g_autofree char *cut_path = g_build_filename (root, "test", "3.tar", NULL);
  write_tar (cut_path, whole, G_N_ELEMENTS (whole));
  gsize first_bytes = 512 + ((g_bytes_get_size (pictures.data[1]) + 511) / 512) * 512 + 1024;
  g_assert_cmpint (truncate (cut_path, (off_t) (first_bytes + 512 + 700)), ==, 0);

  g_autoptr (ClipDataset) dataset = open_dataset (root, NULL, NULL);
  assert_issue (dataset, "2.tar", "nolabel.png", "no class index (nolabel.cls)");
  assert_issue (dataset, "2.tar", "range.png", "class index 9, but classnames.txt names 3 classes");
  assert_issue (dataset, "2.tar", "word.cls", "not a number");
  assert_issue (dataset, "2.tar", "orphan", "no image member");
  assert_issue (dataset, "3.tar", "cut.png", "truncated");
  assert_issue (dataset, "4.tar", NULL, "No such file");
  /* The six good samples, garbage.jpg and first.jpg. */
  g_assert_cmpint (clip_dataset_get_n_images (dataset), ==, N_PICTURES + 2);
  g_assert_cmpuint (clip_dataset_get_issues (dataset)->len, ==, 6);

  prepare (dataset, 16);
  assert_issue (dataset, "2.tar", "garbage.jpg", "");
  g_assert_cmpint (clip_dataset_get_n_images (dataset), ==, N_PICTURES + 1);
  g_assert_cmpint (find_image (dataset, "first.jpg"), ==, N_PICTURES);

  /* Classes without classnames.txt, and a split that is not there, fail naming what is missing. */
  g_autofree char *classnames = g_build_filename (root, "classnames.txt", NULL);
  g_assert_cmpint (g_unlink (classnames), ==, 0);
  GError *error = NULL;
  g_autoptr (ClipDataset) unnamed = clip_dataset_open (root, NULL, NULL, &error);
  g_assert_error (error, CLIP_ERROR, CLIP_ERROR_MISSING);
  g_assert_nonnull (strstr (error->message, "classnames.txt"));
  g_clear_error (&error);
  ClipDatasetOptions options;
  clip_dataset_options_init (&options);
  options.split = "validation";
  g_autoptr (ClipDataset) no_split = clip_dataset_open (root, &options, NULL, &error);
  g_assert_error (error, CLIP_ERROR, CLIP_ERROR_MISSING);
  g_assert_nonnull (strstr (error->message, "validation"));
  g_clear_error (&error);
}

static void
test_coco (void)
{
  g_auto (Pictures) pictures;
  pictures_init (&pictures);
  g_autofree char *root = tu_make_dir ("coco");
  for (int i = 0; i < 3; i++)
    {
      g_autofree char *entry = g_build_filename ("val2017", pictures.name[i], NULL);
      write_bytes (root, entry, pictures.data[i]);
    }
  /* Image 3 has captions but no file; image 4 has no caption; annotation 9 names image 77; image 2
   * appears twice; annotation 8 has no caption.  Captions of an image keep the annotations' order. */
  g_autofree char *json = g_strdup_printf (
    "{\"info\": {}, \"licenses\": [], \"images\": ["
    "{\"id\": 10, \"file_name\": \"%s\", \"width\": 40, \"height\": 30},"
    "{\"id\": 11, \"file_name\": \"%s\"}, {\"id\": 12, \"file_name\": \"%s\"},"
    "{\"id\": 13, \"file_name\": \"absent.jpg\"}, {\"id\": 14, \"file_name\": \"%s\"},"
    "{\"id\": 12, \"file_name\": \"again.jpg\"}, {\"file_name\": \"no-id.jpg\"}],"
    "\"annotations\": ["
    "{\"id\": 1, \"image_id\": 10, \"caption\": \"a first caption \"},"
    "{\"id\": 2, \"image_id\": 11, \"caption\": \"a second image\"},"
    "{\"id\": 3, \"image_id\": 10, \"caption\": \"the first image again\"},"
    "{\"id\": 4, \"image_id\": 12, \"caption\": \"a third\"},"
    "{\"id\": 5, \"image_id\": 10, \"caption\": \"a second image\"},"
    "{\"id\": 6, \"image_id\": 13, \"caption\": \"a lost picture\"},"
    "{\"id\": 8, \"image_id\": 11},"
    "{\"id\": 9, \"image_id\": 77, \"caption\": \"nobody\"}]}",
    pictures.name[0], pictures.name[1], pictures.name[2], pictures.name[0]);
  tu_write_text (root, "annotations/captions_val2017.json", json);
  g_autofree char *path = g_build_filename (root, "annotations", "captions_val2017.json", NULL);

  g_autoptr (ClipDataset) dataset = open_dataset (path, NULL, NULL);  /* images in ../val2017 */
  g_assert_cmpstr (clip_dataset_get_format_name (dataset), ==, "coco");
  g_autofree char *val2017 = g_build_filename (root, "val2017", NULL);
  g_autofree char *canonical = g_canonicalize_filename (val2017, NULL);
  g_assert_cmpstr (clip_dataset_get_image_root (dataset), ==, canonical);
  g_assert_true (clip_dataset_has_captions (dataset));
  g_assert_cmpint (clip_dataset_get_n_labels (dataset), ==, 0);
  assert_issue (dataset, "captions_val2017.json", "absent.jpg", "no such file");
  assert_issue (dataset, "captions_val2017.json", pictures.name[0], "no annotation gives the image (id 14)");
  assert_issue (dataset, "captions_val2017.json", "annotation 9", "image_id 77 is not among the images");
  assert_issue (dataset, "captions_val2017.json", "annotation 8", "no caption");
  assert_issue (dataset, "captions_val2017.json", "images[5]", "image id 12 appears twice");
  assert_issue (dataset, "captions_val2017.json", "images[6]", "no integer \"id\"");
  g_assert_cmpuint (clip_dataset_get_issues (dataset)->len, ==, 6);

  g_assert_cmpint (clip_dataset_get_n_images (dataset), ==, 3);
  g_assert_cmpint (clip_dataset_get_size (dataset), ==, 5);
  static const int row_image[] = { 0, 0, 0, 1, 2 };
  static const char *const captions[] = { "a first caption", "the first image again", "a second image",
                                          "a second image", "a third" };
  for (int r = 0; r < 5; r++)
    {
      g_assert_cmpint (clip_dataset_get_row_image (dataset, r), ==, row_image[r]);
      g_assert_cmpstr (clip_dataset_get_caption (dataset, r), ==, captions[r]);
    }
  /* The same text for two images is one caption group. */
  const int *groups = clip_dataset_get_caption_groups (dataset);
  g_assert_cmpint (groups[2], ==, groups[3]);
  g_assert_cmpint (groups[0], !=, groups[1]);
}

static void
test_karpathy (void)
{
  g_auto (Pictures) pictures;
  pictures_init (&pictures);
  g_autofree char *path = write_karpathy (&pictures, "karpathy");
  g_autofree char *dir = g_path_get_dirname (path);
  g_autofree char *images = g_build_filename (dir, "flickr30k-images", NULL);

  g_autoptr (ClipDataset) dataset = open_dataset (path, NULL, images);  /* --split test by default */
  g_assert_cmpstr (clip_dataset_get_format_name (dataset), ==, "karpathy");
  g_assert_cmpint (clip_dataset_get_n_images (dataset), ==, N_PICTURES);
  g_assert_cmpint (clip_dataset_get_size (dataset), ==, 2 * N_PICTURES);
  g_assert_cmpuint (clip_dataset_get_issues (dataset)->len, ==, 1);
  assert_issue (dataset, "dataset_flickr30k.json", "first.png", "no sentences");
  g_assert_cmpstr (clip_dataset_get_caption (dataset, 3), ==, pictures.caption[1][1]);
  g_assert_cmpint (clip_dataset_get_row_image (dataset, 3), ==, 1);

  /* The train split's only image is missing: an issue, and then nothing is left. */
  ClipDatasetOptions options;
  clip_dataset_options_init (&options);
  options.image_root = images;
  options.split = "train";
  GError *error = NULL;
  g_autoptr (ClipDataset) train = clip_dataset_open (path, &options, NULL, &error);
  g_assert_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT);
  g_assert_nonnull (strstr (error->message, "other.png"));
  g_clear_error (&error);
  /* Several splits joined with "+". */
  options.split = "test+train";
  g_autoptr (ClipDataset) both = clip_dataset_open (path, &options, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (clip_dataset_get_n_images (both), ==, N_PICTURES);
  assert_issue (both, "dataset_flickr30k.json", "other.png", "no such file");
  options.split = "restval";
  g_autoptr (ClipDataset) restval = clip_dataset_open (path, &options, NULL, &error);
  g_assert_error (error, CLIP_ERROR, CLIP_ERROR_MISSING);
  g_assert_nonnull (strstr (error->message, "it has test, train"));
  g_clear_error (&error);

  /* A JSON that is neither COCO nor Karpathy. */
  tu_write_text (dir, "other.json", "{\"images\": [{\"file\": \"x\"}]}");
  g_autofree char *other = g_build_filename (dir, "other.json", NULL);
  g_autoptr (ClipDataset) neither = clip_dataset_open (other, NULL, NULL, &error);
  g_assert_error (error, CLIP_ERROR, CLIP_ERROR_FORMAT);
  g_assert_nonnull (strstr (error->message, "neither a COCO"));
  g_clear_error (&error);
}

/* ---------------------------------------------------------------- metrics */

static double
dot (const float *a, const float *b, int dim)
{
  double sum = 0;
  for (int j = 0; j < dim; j++)
    sum += (double) a[j] * b[j];
  return sum;
}

/* Recall@K written out from the protocol: every caption queries the images, a hit when an image
 * that has a caption with the same text ranks within K; every image queries the distinct texts, a
 * hit when one of its texts ranks within K.  Rank = how many candidates score strictly higher than
 * the best correct one (the embeddings are random, so there are no ties). */
static void
reference_recall (const float *image, int n_images, const float *text, int n_texts, int dim,
                  const int *caption_image, const int *caption_text, int n_captions, int k,
                  double *image_to_text, double *text_to_image)
{
  double hits = 0;
  for (int c = 0; c < n_captions; c++)
    {
      double best = -INFINITY;
      for (int d = 0; d < n_captions; d++)
        if (caption_text[d] == caption_text[c])
          best = fmax (best, dot (text + caption_text[c] * dim, image + caption_image[d] * dim, dim));
      int rank = 0;
      for (int i = 0; i < n_images; i++)
        rank += dot (text + caption_text[c] * dim, image + i * dim, dim) > best;
      hits += rank < k;
    }
  *text_to_image = hits / n_captions;
  hits = 0;
  for (int i = 0; i < n_images; i++)
    {
      double best = -INFINITY;
      for (int c = 0; c < n_captions; c++)
        if (caption_image[c] == i)
          best = fmax (best, dot (image + i * dim, text + caption_text[c] * dim, dim));
      int rank = 0;
      for (int t = 0; t < n_texts; t++)
        rank += dot (image + i * dim, text + t * dim, dim) > best;
      hits += rank < k;
    }
  *image_to_text = hits / n_images;
}

static void
random_unit_rows (GRand *rand, float *rows, int n, int dim)
{
  for (int i = 0; i < n; i++)
    {
      double norm = 0;
      for (int j = 0; j < dim; j++)
        {
          rows[i * dim + j] = (float) g_rand_double_range (rand, -1, 1);
          norm += rows[i * dim + j] * rows[i * dim + j];
        }
      for (int j = 0; j < dim; j++)
        rows[i * dim + j] /= (float) sqrt (norm);
    }
}

/* 40 images, 1 to 5 captions each, a quarter of the captions sharing a few repeated texts. */
static void
test_recall_several_captions (void)
{
  enum { N_IMAGES = 40, DIM = 6, MAX_CAPTIONS = 200 };
  g_autoptr (GRand) rand = g_rand_new_with_seed (17);
  int caption_image[MAX_CAPTIONS], caption_text[MAX_CAPTIONS];
  int n_captions = 0, n_texts = 0;
  const int n_repeated = 4;  /* texts 0..3 are shared */
  n_texts = n_repeated;
  for (int i = 0; i < N_IMAGES; i++)
    for (int c = 0, n = g_rand_int_range (rand, 1, 6); c < n; c++)
      {
        caption_image[n_captions] = i;
        caption_text[n_captions++] = g_rand_int_range (rand, 0, 4) == 0 ? g_rand_int_range (rand, 0, n_repeated)
                                                                          : n_texts++;
      }
  float image[N_IMAGES * DIM], text[MAX_CAPTIONS * DIM];
  random_unit_rows (rand, image, N_IMAGES, DIM);
  random_unit_rows (rand, text, n_texts, DIM);

  const int ks[] = { 1, 3, 5, 10, 1000 };  /* K beyond every candidate: 1 */
  ClipRetrievalMetrics m;
  clip_evaluate_retrieval_captions (image, N_IMAGES, text, n_texts, DIM, caption_image, caption_text, n_captions, ks,
                                G_N_ELEMENTS (ks), &m);
  g_assert_cmpint (m.n_k, ==, 5);
  for (int k = 0; k < 5; k++)
    {
      double i2t, t2i;
      reference_recall (image, N_IMAGES, text, n_texts, DIM, caption_image, caption_text, n_captions, ks[k], &i2t,
                        &t2i);
      g_test_message ("R@%d: image→text %.4f, text→image %.4f", ks[k], i2t, t2i);
      g_assert_cmpint (m.k[k], ==, ks[k]);
      g_assert_cmpfloat_with_epsilon (m.image_to_text[k], i2t, 1e-12);
      g_assert_cmpfloat_with_epsilon (m.text_to_image[k], t2i, 1e-12);
    }
  g_assert_cmpfloat (m.image_to_text[0], <, m.image_to_text[3]);  /* the case is not trivial */
  g_assert_cmpfloat (m.image_to_text[4], ==, 1);
  g_assert_cmpfloat (m.text_to_image[4], ==, 1);
}

/* Captions made from templates repeat one text per class: each text is ranked once, so with 3
 * classes every image finds its text within 3 (R@5 = 1), where ranking every copy would not. */
static void
test_recall_repeated_captions (void)
{
  enum { N = 30, DIM = 5 };
  g_autoptr (GRand) rand = g_rand_new_with_seed (5);
  float image[N * DIM], class_text[3 * DIM], text[N * DIM];
  random_unit_rows (rand, image, N, DIM);
  random_unit_rows (rand, class_text, 3, DIM);
  int groups[N];
  for (int i = 0; i < N; i++)
    {
      groups[i] = i % 3;
      memcpy (text + i * DIM, class_text + (i % 3) * DIM, sizeof (float) * DIM);
    }
  ClipRetrievalMetrics m;
  clip_evaluate_retrieval (image, text, N, DIM, groups, &m);
  g_assert_cmpfloat (m.image_to_text[1], ==, 1);
  g_assert_cmpfloat (m.image_to_text[2], ==, 1);
  /* R@1 is the share of images whose own class text scores best of the three. */
  int best = 0;
  for (int i = 0; i < N; i++)
    {
      int top = 0;
      for (int c = 1; c < 3; c++)
        if (dot (image + i * DIM, class_text + c * DIM, DIM) > dot (image + i * DIM, class_text + top * DIM, DIM))
          top = c;
      best += top == i % 3;
    }
  g_assert_cmpfloat_with_epsilon (m.image_to_text[0], (double) best / N, 1e-12);
}

static void
test_mean_per_class_recall (void)
{
  /* Class 0: 3 images, 2 right; class 1: 1 image, right; class 2: none; class 3: 2 images, 0 right. */
  static const float probs[6][4] = {
    { .7, .1, .1, .1 }, { .6, .2, .1, .1 }, { .1, .6, .2, .1 }, { .1, .7, .1, .1 },
    { .5, .1, .1, .3 }, { .1, .2, .6, .1 },
  };
  static const int labels[6] = { 0, 0, 0, 1, 3, 3 };
  ClipZeroShotMetrics m = { 0 };
  clip_evaluate_zero_shot (&probs[0][0], labels, 6, 4, &m);
  g_assert_cmpfloat_with_epsilon (m.top1, 3.0 / 6, 1e-12);
  /* (2/3 + 1 + 0) / 3: the class without images is left out, as sklearn's balanced accuracy does. */
  g_assert_cmpfloat_with_epsilon (m.mean_per_class_recall, (2.0 / 3 + 1 + 0) / 3, 1e-12);
  clip_zero_shot_metrics_clear (&m);
}

/* ---------------------------------------------------------------- the same images in two formats */

static void
assert_same_zero_shot (const ClipZeroShotMetrics *a, const ClipZeroShotMetrics *b)
{
  g_assert_cmpint (a->n_classes, ==, b->n_classes);
  g_assert_cmpfloat (a->top1, ==, b->top1);
  g_assert_cmpfloat (a->top5, ==, b->top5);
  g_assert_cmpfloat (a->mean_per_class_recall, ==, b->mean_per_class_recall);
  g_assert_cmpmem (a->confusion, sizeof (int) * a->n_classes * a->n_classes, b->confusion,
                   sizeof (int) * b->n_classes * b->n_classes);
}

static void
test_same_numbers_two_formats (void)
{
  g_auto (Pictures) pictures;
  pictures_init (&pictures);
  g_autoptr (ClipModel) model = load_tiny_model ();
  const int size = clip_model_get_preprocess (model)->image_size;
  GError *error = NULL;

  /* Classification: WebDataset shards and an image folder, with the shards' templates. */
  g_autofree char *wds_root = write_webdataset (&pictures, "same-wds", TRUE);
  g_autofree char *folder_root = write_image_folder (&pictures, "same-folder");
  g_autoptr (ClipDataset) wds = open_dataset (wds_root, NULL, NULL);
  g_autoptr (ClipDataset) folder = open_dataset (folder_root, NULL, NULL);
  prepare (wds, size);
  prepare (folder, size);
  int n_templates;
  const char *const *templates = clip_dataset_get_templates (wds, &n_templates);
  ClipZeroShotMetrics from_wds = { 0 }, from_folder = { 0 };
  g_assert_true (clip_evaluate_dataset (model, wds, NULL, 0, NULL, 0, 4, NULL, &from_wds, NULL, &error));
  g_assert_true (clip_evaluate_dataset (model, folder, templates, n_templates, NULL, 0, 4, NULL, &from_folder, NULL,
                                        &error));
  g_assert_no_error (error);
  assert_same_zero_shot (&from_wds, &from_folder);
  g_test_message ("tiny model, 6 images: acc1 %.3f acc5 %.3f mean per-class recall %.3f", from_wds.top1,
                  from_wds.top5, from_wds.mean_per_class_recall);

  /* Retrieval: WebDataset .txt captions and a Karpathy split, two captions per image. */
  g_autofree char *txt_root = write_webdataset (&pictures, "same-wds-txt", FALSE);
  g_autofree char *karpathy = write_karpathy (&pictures, "same-karpathy");
  g_autofree char *karpathy_dir = g_path_get_dirname (karpathy);
  g_autofree char *karpathy_images = g_build_filename (karpathy_dir, "flickr30k-images", NULL);
  g_autoptr (ClipDataset) txt = open_dataset (txt_root, NULL, NULL);
  g_autoptr (ClipDataset) split = open_dataset (karpathy, NULL, karpathy_images);
  g_assert_true (clip_dataset_has_captions (txt));
  g_assert_cmpint (clip_dataset_get_size (txt), ==, 2 * N_PICTURES);
  prepare (txt, size);
  prepare (split, size);
  const int ks[] = { 1, 2, 5 };
  ClipRetrievalMetrics r_txt, r_split;
  g_assert_true (clip_evaluate_dataset (model, txt, NULL, 0, ks, 3, 5, &r_txt, NULL, NULL, &error));
  g_assert_true (clip_evaluate_dataset (model, split, NULL, 0, ks, 3, 5, &r_split, NULL, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpmem (&r_txt, sizeof r_txt, &r_split, sizeof r_split);

  /* … and both equal the protocol computed here from embeddings of the image files. */
  const int dim = clip_model_get_config (model)->embed_dim;
  const char *paths[N_PICTURES];
  for (int i = 0; i < N_PICTURES; i++)
    paths[i] = clip_dataset_get_image_path (split, 2 * i);
  float image[N_PICTURES * 64], text[2 * N_PICTURES * 64];
  g_assert_cmpint (dim, <=, 64);
  g_assert_true (clip_model_encode_image_files (model, paths, N_PICTURES, FALSE, image, NULL, &error));
  int caption_image[2 * N_PICTURES], caption_text[2 * N_PICTURES], n_texts = 0;
  const char *distinct[2 * N_PICTURES];
  for (int r = 0; r < 2 * N_PICTURES; r++)
    {
      const char *caption = clip_dataset_get_caption (split, r);
      caption_image[r] = clip_dataset_get_row_image (split, r);
      caption_text[r] = -1;
      for (int t = 0; t < n_texts; t++)
        if (strcmp (distinct[t], caption) == 0)
          caption_text[r] = t;
      if (caption_text[r] < 0)
        {
          distinct[n_texts] = caption;
          caption_text[r] = n_texts++;
        }
    }
  g_assert_cmpint (n_texts, ==, N_PICTURES + 3);  /* six own captions, three shared per class */
  g_assert_true (clip_model_encode_texts (model, distinct, n_texts, text, NULL, &error));
  g_assert_no_error (error);
  for (int k = 0; k < 3; k++)
    {
      double i2t, t2i;
      reference_recall (image, N_PICTURES, text, n_texts, dim, caption_image, caption_text, 2 * N_PICTURES, ks[k],
                        &i2t, &t2i);
      g_assert_cmpfloat_with_epsilon (r_split.image_to_text[k], i2t, 1e-12);
      g_assert_cmpfloat_with_epsilon (r_split.text_to_image[k], t2i, 1e-12);
    }
  clip_zero_shot_metrics_clear (&from_wds);
  clip_zero_shot_metrics_clear (&from_folder);
}

/* The images and labels of A and B are the same, and so are their crops at SIZE once prepared. */
static void
assert_same_images (ClipDataset *a, ClipDataset *b, int size)
{
  g_assert_cmpint (clip_dataset_get_n_images (a), ==, clip_dataset_get_n_images (b));
  g_assert_cmpuint (clip_dataset_get_issues (b)->len, ==, 0);
  prepare (a, size);
  prepare (b, size);
  for (int i = 0; i < clip_dataset_get_n_images (a); i++)
    {
      g_assert_cmpstr (clip_dataset_get_image_entry (a, i), ==, clip_dataset_get_image_entry (b, i));
      g_assert_cmpint (clip_dataset_get_image_label (a, i), ==, clip_dataset_get_image_label (b, i));
      g_assert_cmpmem (clip_dataset_get_image_crop (a, i), (gsize) size * size * 3, clip_dataset_get_image_crop (b, i),
                       (gsize) size * size * 3);
    }
}

static void
test_webdataset_compressed (void)
{
  g_auto (Pictures) pictures;
  pictures_init (&pictures);
  g_autoptr (ClipModel) model = load_tiny_model ();
  const int size = clip_model_get_preprocess (model)->image_size;
  GError *error = NULL;

  /* The same samples as .tar and .tar.gz shards give the same numbers … */
  g_autofree char *tar_root = write_webdataset (&pictures, "cmp-tar", TRUE);
  g_autofree char *gz_root = write_webdataset_compressed (&pictures, "cmp-gz", TRUE, "gzip", ".tar.gz");
  g_autoptr (ClipDataset) tar = open_dataset (tar_root, NULL, NULL);
  g_autoptr (ClipDataset) gz = open_dataset (gz_root, NULL, NULL);
  g_assert_cmpstr (clip_dataset_get_format_name (gz), ==, "webdataset");
  assert_same_images (tar, gz, size);
  /* One member at a time, as the app's thumbnails read them: the bytes written, from either shard,
   * in order, then backwards (a plain shard's members found again by where they were seen). */
  for (int pass = 0; pass < 2 * N_PICTURES; pass++)
    for (int compressed = 0; compressed < 2; compressed++)
      {
        ClipDataset *dataset = compressed ? gz : tar;
        const int i = pass < N_PICTURES ? pass : 2 * N_PICTURES - 1 - pass;
        const char *shard = clip_dataset_get_image_shard (dataset, i);
        g_assert_true (g_str_has_suffix (shard, compressed ? (i < 3 ? "0.tar.gz" : "1.tar.gz") : (i < 3 ? "0.tar" : "1.tar")));
        g_autoptr (GBytes) member = clip_dataset_read_shard_member (shard, clip_dataset_get_image_entry (dataset, i),
                                                                     &error);
        g_assert_no_error (error);
        g_assert_true (g_bytes_equal (member, pictures.data[i]));
      }
  g_assert_null (clip_dataset_read_shard_member (clip_dataset_get_image_shard (gz, 0), "nothing.png", &error));
  g_assert_error (error, CLIP_ERROR, CLIP_ERROR_MISSING);
  g_assert_nonnull (strstr (error->message, "0.tar.gz: nothing.png: "));
  g_clear_error (&error);
  ClipZeroShotMetrics from_tar = { 0 }, from_gz = { 0 };
  g_assert_true (clip_evaluate_dataset (model, tar, NULL, 0, NULL, 0, 4, NULL, &from_tar, NULL, &error));
  g_assert_true (clip_evaluate_dataset (model, gz, NULL, 0, NULL, 0, 4, NULL, &from_gz, NULL, &error));
  g_assert_no_error (error);
  assert_same_zero_shot (&from_tar, &from_gz);
  clip_zero_shot_metrics_clear (&from_tar);
  clip_zero_shot_metrics_clear (&from_gz);

  /* … and so do the other compressions libarchive reads, named as nshards.txt's shards or by a brace
   * pattern (zero-padded as braceexpand pads). */
  const struct { const char *compression, *extension; } others[] = {
    { "gzip", ".tgz" }, { "xz", ".tar.xz" }, { "zstd", ".tar.zst" },
  };
  for (size_t c = 0; c < G_N_ELEMENTS (others); c++)
    {
      g_autofree char *name = g_strdup_printf ("cmp%s", others[c].extension);
      g_autofree char *root = write_webdataset_compressed (&pictures, name, TRUE, others[c].compression,
                                                           others[c].extension);
      g_autoptr (ClipDataset) compressed = open_dataset (root, NULL, NULL);
      assert_same_images (tar, compressed, 16);
    }
  for (int shard = 0; shard < 2; shard++)
    {
      g_autofree char *from = g_strdup_printf ("%s/test/%d.tar.gz", gz_root, shard);
      g_autofree char *to = g_strdup_printf ("%s/test/shard-%02d.tar.gz", gz_root, shard);
      g_assert_cmpint (g_rename (from, to), ==, 0);
    }
  g_autofree char *pattern = g_build_filename (gz_root, "test", "shard-{00..01}.tar.gz", NULL);
  g_assert_true (clip_dataset_is_webdataset (pattern));
  g_autoptr (ClipDataset) braced = open_dataset (pattern, NULL, NULL);
  g_assert_cmpint (clip_dataset_get_n_labels (braced), ==, 3);  /* classnames.txt beside the split folder */
  assert_same_images (tar, braced, 16);

  /* A .tar.gz cut in the middle of a member: an issue naming the shard and the member, the samples
   * before it and the other shards read. */
  g_autoptr (GRand) rand = g_rand_new_with_seed (17);
  const gsize n_noise = 1 << 19;  /* does not compress: the cut falls inside it, past the first reads */
  guint8 *noise = g_malloc (n_noise);
  for (gsize i = 0; i < n_noise; i++)
    noise[i] = (guint8) g_rand_int_range (rand, 0, 256);
  g_autoptr (GBytes) cut_bytes = g_bytes_new_take (noise, n_noise);
  g_autoptr (GBytes) zero = text_bytes ("0");
  const TarMember members[] = {
    { "first.jpg", pictures.data[1] }, { "first.cls", zero },
    { "cut.png", cut_bytes }, { "cut.cls", zero },
  };
  g_autofree char *cut_path = g_build_filename (tar_root, "test", "2.tar.gz", NULL);
  write_tar_compressed (cut_path, members, G_N_ELEMENTS (members), "gzip");
  GStatBuf st;
  g_assert_cmpint (g_stat (cut_path, &st), ==, 0);
  g_assert_cmpint (truncate (cut_path, st.st_size / 2), ==, 0);  /* 256 KiB into the noise */
  tu_write_text (tar_root, "test/nshards.txt", "3\n");
  g_autoptr (ClipDataset) truncated = open_dataset (tar_root, NULL, NULL);
  assert_issue (truncated, "2.tar.gz", "cut.png", "truncated");
  g_assert_cmpuint (clip_dataset_get_issues (truncated)->len, ==, 1);
  g_assert_cmpint (clip_dataset_get_n_images (truncated), ==, N_PICTURES + 1);
  g_assert_cmpint (find_image (truncated, "first.jpg"), ==, N_PICTURES);
  prepare (truncated, 16);
  g_assert_cmpint (clip_dataset_get_n_images (truncated), ==, N_PICTURES + 1);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/datasets/folder", test_image_folder);
  g_test_add_func ("/datasets/webdataset/classification", test_webdataset_classification);
  g_test_add_func ("/datasets/webdataset/malformed", test_webdataset_malformed);
  g_test_add_func ("/datasets/webdataset/compressed", test_webdataset_compressed);
  g_test_add_func ("/datasets/coco", test_coco);
  g_test_add_func ("/datasets/karpathy", test_karpathy);
  g_test_add_func ("/datasets/metrics/several-captions", test_recall_several_captions);
  g_test_add_func ("/datasets/metrics/repeated-captions", test_recall_repeated_captions);
  g_test_add_func ("/datasets/metrics/mean-per-class-recall", test_mean_per_class_recall);
  g_test_add_func ("/datasets/same-numbers-two-formats", test_same_numbers_two_formats);
  return g_test_run ();
}
