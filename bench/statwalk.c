/* bench/compare's floor: one thread walking a tree with readdir and an fstatat of every
 * entry, reading no file. Folders named by the second argument (a top-level name, e.g. the
 * ignored node_modules) are skipped, so it looks at the same files imprint sends.
 *
 *   cc -O2 -o statwalk bench/statwalk.c && ./statwalk DIR [SKIP]   → prints entries, bytes
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static unsigned long long entries, bytes;

static void walk(int dirfd, const char *skip) {
  DIR *dir = fdopendir(dirfd);
  if (!dir) { perror("fdopendir"); exit(1); }
  struct dirent *e;
  while ((e = readdir(dir))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    if (skip && !strcmp(e->d_name, skip)) continue;
    struct stat st;
    if (fstatat(dirfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW)) { perror(e->d_name); exit(1); }
    entries++;
    if (S_ISDIR(st.st_mode)) {
      int fd = openat(dirfd, e->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (fd < 0) { perror(e->d_name); exit(1); }
      walk(fd, NULL);
    } else {
      bytes += st.st_size;
    }
  }
  closedir(dir);
}

int main(int argc, char **argv) {
  if (argc < 2) { fprintf(stderr, "usage: statwalk DIR [SKIP]\n"); return 2; }
  int fd = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) { perror(argv[1]); return 1; }
  walk(fd, argc > 2 ? argv[2] : NULL);
  printf("%llu entries, %llu bytes\n", entries, bytes);
  return 0;
}
