// Verify Trellis-issued credentials and presentations with Digital Bazaar's standard W3C VC verifier
// (vc-js + DataIntegrityProof/eddsa-jcs-2022 + Bitstring Status List), fully offline.
//
// Usage: node verify.mjs INPUT.json  -> prints a JSON result on stdout.
// INPUT: {"documents": {url: document}, "now": dateTime, "credential"?: vc,
//         "presentation"?: vp, "challenge"?: str, "domain"?: str}
// "documents" holds DID documents (by DID) and status list credentials (by URL); JSON-LD contexts come only
// from the pinned npm packages, never from the network.
import fs from 'node:fs';
import * as vc from '@digitalbazaar/vc';
import {DataIntegrityProof} from '@digitalbazaar/data-integrity';
import {createVerifyCryptosuite} from '@digitalbazaar/eddsa-jcs-2022-cryptosuite';
import {checkStatus} from '@digitalbazaar/vc-bitstring-status-list';
import {contexts as credentialsContexts} from '@digitalbazaar/credentials-context';
import multikeyContext from '@digitalbazaar/multikey-context';
import didContext from 'did-context';

const input = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const contexts = new Map([
  ...credentialsContexts,
  ...multikeyContext.contexts,
  ...didContext.contexts,
]);
const documents = input.documents || {};

async function documentLoader(url) {
  if(contexts.has(url)) {
    return {contextUrl: null, documentUrl: url, document: contexts.get(url)};
  }
  const [base, fragment] = url.split('#');
  const doc = documents[base];
  if(doc === undefined) {
    throw new Error(`offline document loader: unknown document ${url}`);
  }
  if(fragment === undefined) {
    return {contextUrl: null, documentUrl: url, document: doc};
  }
  const vm = (doc.verificationMethod || []).find(m => m.id === url);
  if(vm === undefined) {
    throw new Error(`offline document loader: ${base} has no verification method #${fragment}`);
  }
  return {contextUrl: null, documentUrl: url, document: {'@context': doc['@context'], ...vm}};
}

const suite = new DataIntegrityProof({cryptosuite: createVerifyCryptosuite()});

function summary(result) {
  if(result === undefined) {
    return undefined;
  }
  const errors = [];
  const collect = e => {
    if(!e) {
      return;
    }
    if(Array.isArray(e)) {
      e.forEach(collect);
      return;
    }
    errors.push(e.message || String(e));
    if(e.errors) {
      collect(e.errors);
    }
    if(e.cause) {
      collect(e.cause);
    }
  };
  collect(result.error);
  for(const r of result.results || []) {
    collect(r.error);
  }
  const statuses = (result.statusResult?.results || []).map(
    r => ({purpose: r.credentialStatus.statusPurpose, status: r.status}));
  collect(result.statusResult?.error);
  return {verified: result.verified === true, errors, statuses};
}

const out = {};
const common = {suite, documentLoader, checkStatus, now: input.now};
if(input.credential) {
  out.credential = summary(await vc.verifyCredential({...common, credential: input.credential}));
}
if(input.presentation) {
  const result = await vc.verify({
    ...common, presentation: input.presentation, challenge: input.challenge, domain: input.domain
  });
  out.presentation = {
    ...summary(result),
    presentationProof: summary(result.presentationResult),
    credentials: (result.credentialResults || []).map(summary),
  };
}
process.stdout.write(JSON.stringify(out) + '\n');
