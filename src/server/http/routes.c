/*
 * routes.c - the route table: wiring as data. A new endpoint is one row
 * here, one handler, one test and one line in docs/API.md.
 */
#include "server/http/http.h"

#define KB 1024u

const struct dc_route dc_routes[] = {
    {"GET", "/v1/health", dc_h_health, DC_R_PUBLIC | DC_R_INLINE, 0, "health"},
    {"GET", "/v1/ready", dc_h_ready, DC_R_PUBLIC, 0, "ready"},
    {"GET", "/v1/keys", dc_h_keys, DC_R_PUBLIC, 0, "keys"},
    {"GET", "/metrics", dc_h_metrics, DC_R_PUBLIC | DC_R_INLINE, 0, "metrics"},
    {"POST", "/v1/register", dc_h_register, DC_R_SELF_SIGNED, 4 * KB, "register"},
    {"POST", "/v1/sync", dc_h_sync, DC_R_DEVICE, 1 * KB, "sync"},
    {"GET", "/v1/balance", dc_h_balance, DC_R_DEVICE, 0, "balance"},
    {"GET", "/v1/history", dc_h_history, DC_R_DEVICE, 0, "history"},
    {"POST", "/v1/transfers", dc_h_transfer, DC_R_DEVICE, 4 * KB, "transfer"},
    {"POST", "/v1/transfers/batch", dc_h_transfer_batch, DC_R_DEVICE, 256 * KB, "transfer_batch"},
    {"POST", "/v1/withdrawals", dc_h_withdraw, DC_R_DEVICE, 4 * KB, "withdraw"},
    {"POST", "/v1/deposits", dc_h_deposit, DC_R_DEVICE, 0, "deposit"},
    {"POST", "/v1/reclaims", dc_h_reclaim, DC_R_DEVICE, 128 * KB, "reclaim"},
    {"GET", "/v1/admin/accounts", dc_h_admin_accounts, DC_R_ADMIN, 0, "admin_accounts"},
    {"GET", "/v1/admin/accounts/{id}", dc_h_admin_account, DC_R_ADMIN, 0, "admin_account"},
    {"POST", "/v1/admin/accounts/{id}/verify", dc_h_admin_verify, DC_R_ADMIN, 1 * KB,
     "admin_verify"},
    {"POST", "/v1/admin/accounts/{id}/freeze", dc_h_admin_freeze, DC_R_ADMIN, 4 * KB,
     "admin_freeze"},
    {"POST", "/v1/admin/accounts/{id}/unfreeze", dc_h_admin_unfreeze, DC_R_ADMIN, 4 * KB,
     "admin_unfreeze"},
    {"POST", "/v1/admin/fund", dc_h_admin_fund, DC_R_ADMIN, 4 * KB, "admin_fund"},
    {"POST", "/v1/admin/payout", dc_h_admin_payout, DC_R_ADMIN, 4 * KB, "admin_payout"},
    {"GET", "/v1/admin/cases", dc_h_admin_cases, DC_R_ADMIN, 0, "admin_cases"},
    {"GET", "/v1/admin/cases/{id}", dc_h_admin_case, DC_R_ADMIN, 0, "admin_case"},
    {"POST", "/v1/admin/cases/{id}/resolve", dc_h_admin_resolve, DC_R_ADMIN, 4 * KB,
     "admin_resolve"},
    {"POST", "/v1/admin/holds/release", dc_h_admin_release, DC_R_ADMIN, 1 * KB, "admin_release"},
    {"GET", "/v1/admin/audit", dc_h_admin_audit, DC_R_ADMIN, 0, "admin_audit"},
    {"GET", "/v1/admin/holds", dc_h_admin_holds, DC_R_ADMIN, 0, "admin_holds"},
    {"GET", "/v1/admin/cases/{id}/evidence", dc_h_admin_case_evidence, DC_R_ADMIN, 0,
     "admin_case_evidence"},
    {"GET", "/v1/admin/cases/{id}/events", dc_h_admin_case_events, DC_R_ADMIN, 0,
     "admin_case_events"},
    /* the investigator's reads (h_investigate.c) */
    {"GET", "/v1/admin/whoami", dc_h_admin_whoami, DC_R_ADMIN, 0, "admin_whoami"},
    {"GET", "/v1/admin/summary", dc_h_admin_summary, DC_R_ADMIN, 0, "admin_summary"},
    {"GET", "/v1/admin/accounts/{id}/holds", dc_h_admin_account_holds, DC_R_ADMIN, 0,
     "admin_account_holds"},
    {"GET", "/v1/admin/accounts/{id}/history", dc_h_admin_account_history, DC_R_ADMIN, 0,
     "admin_account_history"},
    {"GET", "/v1/admin/cases/{id}/coin", dc_h_admin_case_coin, DC_R_ADMIN, 0, "admin_case_coin"},
    /* the admin console (h_console.c): static files, gone with [server] console = no */
    {"GET", "/admin", dc_h_console_page, DC_R_PUBLIC | DC_R_CONSOLE | DC_R_INLINE, 0, "console"},
    {"GET", "/admin/console.js", dc_h_console_script, DC_R_PUBLIC | DC_R_CONSOLE | DC_R_INLINE, 0,
     "console_js"},
    {"GET", "/admin/console.css", dc_h_console_style, DC_R_PUBLIC | DC_R_CONSOLE | DC_R_INLINE, 0,
     "console_css"},
};

const size_t dc_routes_n = sizeof dc_routes / sizeof dc_routes[0];
