/*
 * routes.c - the route table: wiring as data. A new endpoint is one row
 * here, one handler, one test and one line in docs/API.md.
 *
 * An admin row's last column is the least operator role that may call it
 * (operators.h): reads are DC_ROLE_VIEWER, actions that move money or
 * change an account or a case DC_ROLE_OPERATOR, managing operators
 * DC_ROLE_ADMIN. The dispatcher enforces it; handlers never check roles.
 */
#include "server/http/http.h"

#define KB 1024u

const struct dc_route dc_routes[] = {
    {"GET", "/v1/health", dc_h_health, DC_R_PUBLIC | DC_R_INLINE, 0, "health", DC_ROLE_NONE},
    {"GET", "/v1/ready", dc_h_ready, DC_R_PUBLIC, 0, "ready", DC_ROLE_NONE},
    {"GET", "/v1/keys", dc_h_keys, DC_R_PUBLIC, 0, "keys", DC_ROLE_NONE},
    {"GET", "/metrics", dc_h_metrics, DC_R_PUBLIC | DC_R_INLINE, 0, "metrics", DC_ROLE_NONE},
    {"POST", "/v1/register", dc_h_register, DC_R_SELF_SIGNED, 4 * KB, "register", DC_ROLE_NONE},
    {"POST", "/v1/sync", dc_h_sync, DC_R_DEVICE, 1 * KB, "sync", DC_ROLE_NONE},
    {"GET", "/v1/balance", dc_h_balance, DC_R_DEVICE, 0, "balance", DC_ROLE_NONE},
    {"GET", "/v1/history", dc_h_history, DC_R_DEVICE, 0, "history", DC_ROLE_NONE},
    {"POST", "/v1/transfers", dc_h_transfer, DC_R_DEVICE | DC_R_WRITER, 4 * KB, "transfer",
     DC_ROLE_NONE},
    {"POST", "/v1/transfers/batch", dc_h_transfer_batch, DC_R_DEVICE | DC_R_WRITER, 256 * KB,
     "transfer_batch", DC_ROLE_NONE},
    {"POST", "/v1/withdrawals", dc_h_withdraw, DC_R_DEVICE, 4 * KB, "withdraw", DC_ROLE_NONE},
    {"POST", "/v1/deposits", dc_h_deposit, DC_R_DEVICE, 0, "deposit", DC_ROLE_NONE},
    {"POST", "/v1/reclaims", dc_h_reclaim, DC_R_DEVICE, 128 * KB, "reclaim", DC_ROLE_NONE},
    {"GET", "/v1/admin/accounts", dc_h_admin_accounts, DC_R_ADMIN, 0, "admin_accounts",
     DC_ROLE_VIEWER},
    {"GET", "/v1/admin/accounts/{id}", dc_h_admin_account, DC_R_ADMIN, 0, "admin_account",
     DC_ROLE_VIEWER},
    {"POST", "/v1/admin/accounts/{id}/verify", dc_h_admin_verify, DC_R_ADMIN, 1 * KB,
     "admin_verify", DC_ROLE_OPERATOR},
    {"POST", "/v1/admin/accounts/{id}/freeze", dc_h_admin_freeze, DC_R_ADMIN, 4 * KB,
     "admin_freeze", DC_ROLE_OPERATOR},
    {"POST", "/v1/admin/accounts/{id}/unfreeze", dc_h_admin_unfreeze, DC_R_ADMIN, 4 * KB,
     "admin_unfreeze", DC_ROLE_OPERATOR},
    {"POST", "/v1/admin/fund", dc_h_admin_fund, DC_R_ADMIN, 4 * KB, "admin_fund", DC_ROLE_OPERATOR},
    {"POST", "/v1/admin/payout", dc_h_admin_payout, DC_R_ADMIN, 4 * KB, "admin_payout",
     DC_ROLE_OPERATOR},
    {"GET", "/v1/admin/cases", dc_h_admin_cases, DC_R_ADMIN, 0, "admin_cases", DC_ROLE_VIEWER},
    {"GET", "/v1/admin/cases/{id}", dc_h_admin_case, DC_R_ADMIN, 0, "admin_case", DC_ROLE_VIEWER},
    {"POST", "/v1/admin/cases/{id}/resolve", dc_h_admin_resolve, DC_R_ADMIN, 4 * KB,
     "admin_resolve", DC_ROLE_OPERATOR},
    {"POST", "/v1/admin/holds/release", dc_h_admin_release, DC_R_ADMIN, 1 * KB, "admin_release",
     DC_ROLE_OPERATOR},
    {"GET", "/v1/admin/audit", dc_h_admin_audit, DC_R_ADMIN, 0, "admin_audit", DC_ROLE_VIEWER},
    {"GET", "/v1/admin/holds", dc_h_admin_holds, DC_R_ADMIN, 0, "admin_holds", DC_ROLE_VIEWER},
    {"GET", "/v1/admin/cases/{id}/evidence", dc_h_admin_case_evidence, DC_R_ADMIN, 0,
     "admin_case_evidence", DC_ROLE_VIEWER},
    {"GET", "/v1/admin/cases/{id}/events", dc_h_admin_case_events, DC_R_ADMIN, 0,
     "admin_case_events", DC_ROLE_VIEWER},
    /* the investigator's reads (h_investigate.c) */
    {"GET", "/v1/admin/whoami", dc_h_admin_whoami, DC_R_ADMIN, 0, "admin_whoami", DC_ROLE_VIEWER},
    {"GET", "/v1/admin/summary", dc_h_admin_summary, DC_R_ADMIN, 0, "admin_summary",
     DC_ROLE_VIEWER},
    {"GET", "/v1/admin/accounts/{id}/holds", dc_h_admin_account_holds, DC_R_ADMIN, 0,
     "admin_account_holds", DC_ROLE_VIEWER},
    {"GET", "/v1/admin/accounts/{id}/history", dc_h_admin_account_history, DC_R_ADMIN, 0,
     "admin_account_history", DC_ROLE_VIEWER},
    {"GET", "/v1/admin/cases/{id}/coin", dc_h_admin_case_coin, DC_R_ADMIN, 0, "admin_case_coin",
     DC_ROLE_VIEWER},
    {"GET", "/v1/admin/operators", dc_h_admin_operators, DC_R_ADMIN, 0, "admin_operators",
     DC_ROLE_ADMIN},
    /* the admin console (h_console.c): static files, gone with [server] console = no */
    {"GET", "/admin", dc_h_console_page, DC_R_PUBLIC | DC_R_CONSOLE | DC_R_INLINE, 0, "console",
     DC_ROLE_NONE},
    {"GET", "/admin/console.js", dc_h_console_script, DC_R_PUBLIC | DC_R_CONSOLE | DC_R_INLINE, 0,
     "console_js", DC_ROLE_NONE},
    {"GET", "/admin/console.css", dc_h_console_style, DC_R_PUBLIC | DC_R_CONSOLE | DC_R_INLINE, 0,
     "console_css", DC_ROLE_NONE},
};

const size_t dc_routes_n = sizeof dc_routes / sizeof dc_routes[0];
