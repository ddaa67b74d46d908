/*
 * test_config.c - ducatd's configuration: defaults, every kind of bad
 * value refused with a message naming the line, the key and the value, and
 * the exposure bound of DESIGN.md section 6.
 */
#include <string.h>

#include "server/config.h"
#include "test.h"

static struct dc_config C;
static char err[512];

static enum dc_err parse(const char *text)
{
    dc_config_defaults(&C);
    err[0] = '\0';
    return dc_config_parse(&C, "/etc/ducat/ducat.conf", text, strlen(text), err, sizeof err);
}

static void test_defaults_are_valid(void)
{
    ASSERT_OK(parse(""));
    ASSERT_STR(C.dir, "/etc/ducat");
    ASSERT_STR(C.currency.code, "CNY");
    ASSERT_EQ(C.currency.exponent, 2);
    ASSERT_EQ(C.hold_working_days, 15);
    ASSERT_EQ(C.denoms.v[0], 1);
    ASSERT_EQ(C.denoms.v[C.denoms.n - 1], 50000);
    ASSERT_EQ(C.default_offline_limit, 200000);
    ASSERT_OK(dc_config_check(&C, err, sizeof err));
}

static void test_values(void)
{
    ASSERT_OK(parse("# comment\n[ducat]\ncurrency = EUR\ncurrency_numeric = 978\n"
                    "currency_exponent = 2\ndenominations = 0.05,0.10,0.20,0.50,1\n"
                    "[limits]\ndefault_offline_limit = 150.50\nmax_hops = 8\n"
                    "[policy]\nauto_verify = yes\n[server]\nlog_level = debug\n"));
    ASSERT_STR(C.currency.code, "EUR");
    ASSERT_EQ(C.currency.numeric, 978);
    ASSERT_EQ(C.denoms.n, 5);
    ASSERT_EQ(C.denoms.v[0], 5);
    ASSERT_EQ(C.default_offline_limit, 15050);
    ASSERT_EQ(C.max_hops, 8);
    ASSERT_EQ(C.auto_verify, 1);
    ASSERT_EQ(C.log_level, 3);
    ASSERT_OK(parse("[ducat]\ndenominations = series125 1 100\n"));
    ASSERT_EQ(C.denoms.v[C.denoms.n - 1], 10000);
}

static void test_errors_name_line_key_value(void)
{
    ASSERT_ERR(parse("[limits]\nmax_hops = 99\n"), DC_ERR_CONFIG);
    ASSERT(strstr(err, "ducat.conf:2") && strstr(err, "max_hops") && strstr(err, "'99'"));
    ASSERT_ERR(parse("[limits]\nmax_hops = -1\n"), DC_ERR_CONFIG);
    ASSERT_ERR(parse("[limits]\nmax_hops = 08\n"), DC_ERR_CONFIG);
    ASSERT_ERR(parse("[nosuch]\n"), DC_ERR_CONFIG);
    ASSERT(strstr(err, "unknown section"));
    ASSERT_ERR(parse("[limits]\nmax_hopz = 3\n"), DC_ERR_CONFIG);
    ASSERT(strstr(err, "unknown key 'max_hopz'"));
    ASSERT_ERR(parse("[limits]\nmax_hops 3\n"), DC_ERR_CONFIG);
    ASSERT_ERR(parse("[limits\n"), DC_ERR_CONFIG);
    ASSERT_ERR(parse("max_hops = 3\n"), DC_ERR_CONFIG);
    ASSERT_ERR(parse("[policy]\nauto_verify = maybe\n"), DC_ERR_CONFIG);
    ASSERT_ERR(parse("[ducat]\ncurrency = EURO\n"), DC_ERR_CONFIG);
    ASSERT_ERR(parse("[ducat]\ncurrency = eur\n"), DC_ERR_CONFIG);
    ASSERT_ERR(parse("[ducat]\ndenominations = 1,3,4\n"), DC_ERR_CONFIG);
    ASSERT(strstr(err, "'1,3,4'"));
    ASSERT_ERR(parse("[ducat]\ndenominations = 0.001\n"), DC_ERR_CONFIG);
    ASSERT_ERR(parse("[ducat]\ndenominations = series125 1\n"), DC_ERR_CONFIG);
    ASSERT_ERR(parse("[limits]\ndefault_offline_limit = 12.345\n"), DC_ERR_CONFIG);
    ASSERT_ERR(parse("[admin]\ntoken_hash = abc\n"), DC_ERR_CONFIG);
    ASSERT_ERR(parse("[server]\nlog_level = loud\n"), DC_ERR_CONFIG);
}

static void test_exposure_bound(void)
{
    /* E + G <= F: the last branch of a fork must arrive while the first is held */
    ASSERT_OK(parse("[limits]\ncoin_lifetime_days = 12\ndeposit_grace_days = 3\n"));
    ASSERT_ERR(parse("[limits]\ncoin_lifetime_days = 13\ndeposit_grace_days = 3\n"), DC_ERR_CONFIG);
    ASSERT(strstr(err, "coin_lifetime_days (13)") && strstr(err, "working_days (15)"));
    ASSERT(strstr(err, "released"));
    ASSERT_OK(parse("[limits]\ncoin_lifetime_days = 13\n[hold]\nworking_days = 16\n"));
}

static void test_paths(void)
{
    char out[DC_PATH_MAX * 2];
    ASSERT_OK(parse(""));
    dc_config_path(&C, "sqlite:ducat.db", out, sizeof out);
    ASSERT_STR(out, "sqlite:/etc/ducat/ducat.db");
    dc_config_path(&C, "keys", out, sizeof out);
    ASSERT_STR(out, "/etc/ducat/keys");
    dc_config_path(&C, "/abs/x", out, sizeof out);
    ASSERT_STR(out, "/abs/x");
    dc_config_path(&C, "postgresql://u@h/db", out, sizeof out);
    ASSERT_STR(out, "postgresql://u@h/db");
}

TESTS(T(test_defaults_are_valid), T(test_values), T(test_errors_name_line_key_value),
      T(test_exposure_bound), T(test_paths))
