/*
 * cmd_evidence.c - `ducat evidence verify`: checks a double-spend case's
 * evidence with nothing but the issuer's master public key.
 *
 * Why in the wallet CLI: the evidence is meant for people who do not trust
 * the operator (an auditor, a court, the accused herself). It needs no
 * wallet, no server and no network; the check is the core's
 * (dc_evidence_verify_why), the same the server ran when it opened the case.
 *
 * Inputs, as an operator hands them out: the evidence as text armor
 * (`evidence_armor` of GET /v1/admin/cases/{id}, `ducatd cases show`), as
 * hex, or the whole JSON of either; the master key as 64 hex digits, a file
 * holding them, or the JSON of GET /v1/keys (`master_pub`).
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "ducat/armor.h"
#include "ducat/auth.h"
#include "ducat/coin.h"
#include "ducat/refusal.h"

#define EVIDENCE_FILE_MAX (1u << 20)

static const char *type_name(uint8_t t)
{
    return t == DC_TYPE_TRANSFER  ? "transfer"
           : t == DC_TYPE_SPLIT   ? "split"
           : t == DC_TYPE_DEPOSIT ? "deposit"
           : t == DC_REFUSAL_TAG  ? "refusal"
                                  : "unknown";
}

/* The text without leading and trailing white space: *p, *n. */
static void trim(const char **p, size_t *n)
{
    while (*n && isspace((unsigned char)**p)) (*p)++, (*n)--;
    while (*n && isspace((unsigned char)(*p)[*n - 1])) (*n)--;
}

/* A JSON object's string member `key`, or NULL (text is not JSON or has
 * none). *j owns it. */
static const char *json_member(json_t **j, const char *text, size_t len, const char *key)
{
    *j = json_loadb(text, len, 0, NULL);
    return json_is_object(*j) ? json_string_value(json_object_get(*j, key)) : NULL;
}

/* --master-key: hex, a file of hex, or a /v1/keys answer. */
static int master_key(const char *arg, uint8_t pub[static DC_PUBKEY_BYTES])
{
    const char *p = arg;
    size_t n = strlen(arg);
    char *file = NULL;
    json_t *j = NULL;
    if (n != 2 * DC_PUBKEY_BYTES || dc_hex_decode(pub, DC_PUBKEY_BYTES, p, n) != DC_OK) {
        size_t len;
        if (access(arg, R_OK) != 0) {
            return cli_fail_code(CLI_EXIT_USAGE,
                                 "--master-key '%s': neither 64 hex digits nor a readable file",
                                 arg);
        }
        int rc = cli_read_file(arg, 64 * 1024, &file, &len);
        if (rc) return rc;
        p = file;
        n = len;
        trim(&p, &n);
        const char *m = json_member(&j, p, n, "master_pub");
        if (m) {
            p = m;
            n = strlen(m);
        }
    }
    int rc = 0;
    if (p != arg && (n != 2 * DC_PUBKEY_BYTES || dc_hex_decode(pub, DC_PUBKEY_BYTES, p, n))) {
        rc = cli_fail_code(CLI_EXIT_USAGE,
                           "--master-key '%s': expected 64 hex digits, a file holding them "
                           "or the JSON of GET /v1/keys",
                           arg);
    }
    json_decref(j);
    free(file);
    return rc;
}

/* The evidence bytes of FILE (armor, hex, or JSON with evidence_armor or
 * evidence): *bin malloc'd. */
static int evidence_bytes(struct cli *x, const char *path, uint8_t **bin, size_t *len)
{
    char *text = NULL;
    size_t n;
    int rc = cli_read_file(path, EVIDENCE_FILE_MAX, &text, &n);
    if (rc) return rc;
    const char *p = text;
    trim(&p, &n);
    json_t *j = NULL;
    const char *m = json_member(&j, p, n, "evidence_armor");
    if (!m && j) m = json_string_value(json_object_get(j, "evidence"));
    if (m) {
        p = m;
        n = strlen(m);
    }
    *bin = malloc(DC_EVIDENCE_READ_MAX_BYTES);
    enum dc_err e = *bin ? DC_OK : DC_ERR_NO_MEMORY;
    if (e == DC_OK && n > 6 && memcmp(p, "ducat:", 6) == 0) {
        e = dc_armor_decode(*bin, DC_EVIDENCE_READ_MAX_BYTES, len, DC_ARMOR_EVIDENCE, p, n);
        if (e != DC_OK) {
            rc =
                cli_fail(x, e, "evidence '%s': the armor does not decode: %s", path, dc_err_str(e));
        }
    } else if (e == DC_OK) {
        /* hex: the admin API's `evidence` */
        if (n % 2 || n / 2 > DC_EVIDENCE_READ_MAX_BYTES ||
            dc_hex_decode(*bin, n / 2, p, n) != DC_OK) {
            rc = cli_fail_code(CLI_EXIT_USAGE,
                               "evidence '%s': expected evidence armor (ducat:evidence:...), "
                               "hex, or the JSON of a case",
                               path);
        }
        *len = n / 2;
    } else {
        rc = cli_fail(x, e, "evidence '%s': out of memory", path);
    }
    json_decref(j);
    free(text);
    if (rc) {
        free(*bin);
        *bin = NULL;
    }
    return rc;
}

static int verify(struct cli *x, const char *path, const char *key)
{
    uint8_t master[DC_PUBKEY_BYTES];
    int rc = master_key(key, master);
    if (rc) return rc;
    uint8_t *bin = NULL;
    size_t len = 0;
    rc = evidence_bytes(x, path, &bin, &len);
    if (rc) return rc;
    struct dc_evidence_info info;
    const char *why = "";
    enum dc_err e = dc_evidence_verify_why(&info, &why, master, bin, len);
    if (e != DC_OK) {
        rc = cli_fail(x, e, "evidence '%s' does not prove a double spend: %s (%s)", path,
                      why[0] ? why : "refused", dc_err_str(e));
        free(bin);
        return rc;
    }
    char culprit[2 * DC_PUBKEY_BYTES + 1], alias[2 * DC_ALIAS_BYTES + 1];
    char serial[2 * DC_SERIAL_BYTES + 1], state[2 * DC_HASH_BYTES + 1], mk[2 * DC_PUBKEY_BYTES + 1];
    cli_hex(culprit, info.culprit, DC_PUBKEY_BYTES);
    cli_hex(alias, info.alias, DC_ALIAS_BYTES);
    cli_hex(serial, info.serial, DC_SERIAL_BYTES);
    cli_hex(state, info.state, DC_HASH_BYTES);
    cli_hex(mk, master, DC_PUBKEY_BYTES);
    const uint8_t types[2] = {info.type_a, info.type_b};
    int refusal = info.kind == DC_TYPE_REFUSAL_EVIDENCE;
    char *succ[2] = {NULL, NULL};
    for (int i = 0; i < 2; i++) {
        succ[i] = malloc(2 * info.succ_len[i] + 1);
        if (!succ[i]) {
            free(succ[0]);
            free(bin);
            return cli_fail(x, DC_ERR_NO_MEMORY, "out of memory");
        }
        cli_hex(succ[i], bin + info.succ_off[i], info.succ_len[i]);
    }
    if (x->json) {
        cli_emit(json_pack("{s:b, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, "
                           "s:[{s:s, s:s}, {s:s, s:s}]}",
                           "verified", 1, "kind", refusal ? "refusal" : "fork", "master_pub", mk,
                           "culprit", culprit, "alias", alias, "serial", serial, "state", state,
                           "value", (json_int_t)info.value, "fork_index",
                           (json_int_t)info.fork_index, "successors", "type", type_name(types[0]),
                           "record", succ[0], "type", type_name(types[1]), "record", succ[1]));
    } else {
        printf(refusal ? "verified: a refused payment passed on: one device signed a refusal of "
                         "the payment that made a state its own and a record handing that state "
                         "on (master key %.16s...)\n"
                       : "verified: a double spend, signed twice by one device (master key "
                         "%.16s...)\n",
               mk);
        printf("culprit device: %s\n"
               "alias:          %s\n"
               "coin serial:    %s\n"
               "forked state:   %s\n"
               "                value %lld minor units, %zu records after the genesis\n",
               culprit, alias, serial, state, (long long)info.value, info.fork_index);
        for (int i = 0; i < 2; i++) {
            printf("successor %c:    %s, %zu bytes\n  %s\n", 'A' + i, type_name(types[i]),
                   info.succ_len[i], succ[i]);
        }
    }
    free(succ[0]);
    free(succ[1]);
    free(bin);
    return CLI_EXIT_OK;
}

int cmd_evidence(struct cli *x, int argc, char **argv)
{
    const char *file = NULL, *key = NULL;
    if (argc < 1 || strcmp(argv[0], "verify") != 0) {
        return cli_fail_code(CLI_EXIT_USAGE, "evidence: expected 'verify FILE --master-key KEY'");
    }
    for (int i = 1; i < argc; i++) {
        const char *v = NULL;
        int r = cli_opt(argc, argv, &i, "--master-key", &v);
        if (r < 0) return CLI_EXIT_USAGE;
        if (r > 0) {
            key = v;
        } else if (!file) {
            file = argv[i];
        } else {
            return cli_fail_code(CLI_EXIT_USAGE, "evidence verify: unexpected argument '%s'",
                                 argv[i]);
        }
    }
    if (!file || !key) {
        return cli_fail_code(CLI_EXIT_USAGE,
                             "evidence verify: expected FILE and --master-key KEY (hex, a file, "
                             "or the JSON of GET /v1/keys)");
    }
    return verify(x, file, key);
}
