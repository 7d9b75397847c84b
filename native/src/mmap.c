#define NAPI_VERSION 8
#include <node_api.h>
#include <sys/mman.h>
#include <errno.h>
#include <string.h>
#include <stdint.h>
#include <stdio.h>
#include <fcntl.h>

static void unmap(napi_env env, void* data, void* hint) { (void)env; munmap(data, (size_t)(uintptr_t)hint); }

static napi_value throw_errno(napi_env env, int e, const char* what) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(e));
  napi_value m, err, code;
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &m);
  napi_create_error(env, NULL, m, &err);
  const char* name = e == ENOMEM ? "ENOMEM" : e == EACCES ? "EACCES" : e == EINVAL ? "EINVAL" : e == ENODEV ? "ENODEV" : e == EBADF ? "EBADF" : "EIO";
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &code);
  napi_set_named_property(env, err, "code", code);
  napi_throw(env, err);
  return NULL;
}

/* mapFile(fd, offset, length, populate): a private, copy-on-write mapping of [offset, offset+length) as an ArrayBuffer. */
static napi_value MapFile(napi_env env, napi_callback_info info) {
  size_t argc = 4; napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd = -1; int64_t off = 0, len = 0; bool populate = false;
  if (argc < 3 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || napi_get_value_int64(env, argv[1], &off) != napi_ok || napi_get_value_int64(env, argv[2], &len) != napi_ok) {
    napi_throw_type_error(env, NULL, "mapFile(fd, offset, length[, populate])"); return NULL;
  }
  if (argc > 3) napi_get_value_bool(env, argv[3], &populate);
  if (len <= 0 || off < 0 || (off & 4095)) { napi_throw_range_error(env, NULL, "mapFile: offset must be page-aligned and length > 0"); return NULL; }
  void* p = mmap(NULL, (size_t)len, PROT_READ, MAP_PRIVATE | (populate ? MAP_POPULATE : 0), fd, (off_t)off);
  if (p == MAP_FAILED) return throw_errno(env, errno, "mmap");
  napi_value ab;
  if (napi_create_external_arraybuffer(env, p, (size_t)len, unmap, (void*)(uintptr_t)len, &ab) != napi_ok) { munmap(p, (size_t)len); return NULL; }
  return ab;
}

/* setBlocking(fd, blocking): clear or set O_NONBLOCK (a FIFO opened non-blocking, to not wait for its reader, then written blocking). */
static napi_value SetBlocking(napi_env env, napi_callback_info info) {
  size_t argc = 2; napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd = -1; bool blocking = true;
  if (argc < 2 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || napi_get_value_bool(env, argv[1], &blocking) != napi_ok) {
    napi_throw_type_error(env, NULL, "setBlocking(fd, blocking)"); return NULL;
  }
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, blocking ? (fl & ~O_NONBLOCK) : (fl | O_NONBLOCK)) < 0) return throw_errno(env, errno, "fcntl");
  return NULL;
}

napi_value subpage_init(napi_env env, napi_value exports);

static napi_value Init(napi_env env, napi_value exports) {
  napi_value fn;
  napi_create_function(env, "mapFile", NAPI_AUTO_LENGTH, MapFile, NULL, &fn);
  napi_set_named_property(env, exports, "mapFile", fn);
  napi_create_function(env, "setBlocking", NAPI_AUTO_LENGTH, SetBlocking, NULL, &fn);
  napi_set_named_property(env, exports, "setBlocking", fn);
  return subpage_init(env, exports);
}
NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
