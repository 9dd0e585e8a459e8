/**
 * Whether a TAC proves nothing: none, empty, or all zeros (decided, docs/protocol.md §6). A computed TAC of
 * all zeros is a 1 in 2^32 chance; a field an RSU or a card left unfilled is far likelier, so an answer
 * carrying one does not prove its debit (a suspect, never a paid record). The card offline serial and the
 * PSAM serial may be 0 and are taken as reported. One definition for every path: the lane's agreement of
 * an answer with its debit (src/lane/debit-agreement.ts), the booth's reads of a card's TAC
 * (src/booth/purchase.ts DEBIT, recover.ts and evidence.ts GET TRANSACTION PROVE) and the journal's
 * backstop on every paid record (src/journal/records.ts).
 */
export function tacMissing(tac: string | null | undefined): boolean {
  return tac === null || tac === undefined || /^0*$/.test(tac);
}
