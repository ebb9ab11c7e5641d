/* text.h - small string pieces shared by the layers' error messages. */
#ifndef Q8TUNE_TEXT_H
#define Q8TUNE_TEXT_H

#ifdef __cplusplus
extern "C" {
#endif

/* Replaces every control byte (below 0x20, and 0x7f) of s with '?', in
 * place, and returns s.  Every message is one line, but many quote what
 * a file held (a JSON parser's "near '...'", a key, a value): a newline
 * in the file must not break the message in two (found by fuzzing). */
char *text_oneline(char *s);

#ifdef __cplusplus
}
#endif

#endif
