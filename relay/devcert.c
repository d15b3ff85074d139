/* --dev: a throw-away CA and a server certificate for localhost, made with
 * OpenSSL in a private directory. */
#include "relay.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "util.h"

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;

	X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (!ext)
		return -EINVAL;
	X509_add_ext(cert, ext, -1);
	X509_EXTENSION_free(ext);
	return 0;
}

static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key,
		       bool ca)
{
	X509 *c = X509_new();
	unsigned char serial[16];
	BIGNUM *bn;

	RAND_bytes(serial, sizeof(serial));
	serial[0] &= 0x7f;
	bn = BN_bin2bn(serial, sizeof(serial), NULL);
	BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(c));
	BN_free(bn);
	X509_set_version(c, 2);
	X509_gmtime_adj(X509_getm_notBefore(c), -3600);
	X509_gmtime_adj(X509_getm_notAfter(c), 30L * 24 * 3600);
	X509_set_pubkey(c, key);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(c), "CN", MBSTRING_ASC,
				   (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(c, X509_get_subject_name(issuer ? issuer : c));
	if (ca) {
		add_ext(c, c, NID_basic_constraints, "critical,CA:TRUE");
		add_ext(c, c, NID_key_usage, "critical,keyCertSign,cRLSign");
		add_ext(c, c, NID_subject_key_identifier, "hash");
	} else {
		add_ext(c, issuer, NID_basic_constraints, "critical,CA:FALSE");
		add_ext(c, issuer, NID_key_usage, "critical,digitalSignature");
		add_ext(c, issuer, NID_ext_key_usage, "serverAuth");
		add_ext(c, issuer, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1,IP:::1");
		add_ext(c, issuer, NID_authority_key_identifier, "keyid");
	}
	if (!X509_sign(c, issuer_key ? issuer_key : key, EVP_sha256())) {
		X509_free(c);
		return NULL;
	}
	return c;
}

static int write_pem(const char *path, X509 *cert, EVP_PKEY *key)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, key ? 0600 : 0644);
	FILE *f;
	int ok;

	if (fd < 0)
		return -errno;
	f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		return -errno;
	}
	ok = key ? PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) :
		   PEM_write_X509(f, cert);
	return fclose(f) == 0 && ok ? 0 : -EIO;
}

int devcert_make(const char *dir, struct devcert *out)
{
	EVP_PKEY *ca_key = EVP_EC_gen("P-256"), *key = EVP_EC_gen("P-256");
	X509 *ca = NULL, *cert = NULL;
	int r = -EIO;

	if (!ca_key || !key)
		goto out;
	ca = make_cert(ca_key, "azbridge-relayd dev CA", NULL, NULL, true);
	cert = ca ? make_cert(key, "localhost", ca, ca_key, false) : NULL;
	if (!cert)
		goto out;
	out->ca_file = xasprintf("%s/ca.pem", dir);
	out->cert_file = xasprintf("%s/server.pem", dir);
	out->key_file = xasprintf("%s/server.key", dir);
	r = write_pem(out->ca_file, ca, NULL);
	if (r == 0)
		r = write_pem(out->cert_file, cert, NULL);
	if (r == 0)
		r = write_pem(out->key_file, NULL, key);
out:
	X509_free(ca);
	X509_free(cert);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(key);
	return r;
}

void devcert_clear(struct devcert *d)
{
	free(d->ca_file);
	free(d->cert_file);
	free(d->key_file);
	memset(d, 0, sizeof(*d));
}
