/*
 * shquote: POSIX shell quoting, for the one place ballast must hand a
 * command line to a shell: an ssh exec channel, where the remote sshd runs
 * the string through the user's login shell.
 *
 * Contract: shquote_argv() turns an argv into one string that any POSIX sh
 * splits back into exactly the same words, whatever bytes they hold
 * (spaces, quotes, $, `, \, newlines, globs, a leading '-' or '~'). Words
 * made only of safe characters are left bare so logs stay readable; every
 * other word is wrapped in single quotes with each ' written as '\''.
 * An empty word becomes ''. Nothing here ever needs a shell locally.
 */
#ifndef BALLAST_SHQUOTE_H
#define BALLAST_SHQUOTE_H

#include "strbuf.h"

/* Append one quoted word. */
void shquote_word(struct strbuf *out, const char *word);

/* Append every word of argv (NULL-terminated), separated by single spaces. */
void shquote_argv(struct strbuf *out, const char *const *argv);

/* Append "NAME=value" assignments as shell words: NAME stays bare and must
 * be a valid shell name (else -1, nothing appended); the value is quoted.
 * Used as a command prefix ("A='x y' cmd ..."), which sets the variable in
 * the command's environment only. */
int shquote_assign(struct strbuf *out, const char *assignment);

#endif
