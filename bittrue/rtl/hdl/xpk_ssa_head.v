// XPK-1 stochastic spiking attention, one head, one time step (spec 3.1-3.5).
//
//   score phase  (max(DK, STEPS_S) clocks) clock d < DK:      C[i,j] += q[i,d] & k[j,d]  (saturates at K_S)
//                                          clock < STEPS_S:   score LFSR bank shifts
//   gate         (1 clock)                 S[i,j] <= (draw_s[i,j] < C[i,j]) & m[i,j]
//   output phase (max(N, STEPS_O) clocks)  clock j < N:       P[i,c] += S[i,j] & v[j,c]  (saturates at K_O)
//                                          clock < STEPS_O:   output LFSR bank shifts
//   result       (1 clock)                 O[i,c] <= draw_o[i,c] < P[i,c]; every output register loaded;
//                                          `done` high for one clock after it
//
// `start` (one clock) clears both counter arrays and begins the score phase.  Outputs hold until the next
// result clock.  The LFSR banks keep their state across steps (re-seeded with `load` once per sample).
// Register of comparator (r, c) of an R x Cn array: r*Cn + c (SHARING 0), r (1) or 0 (2).
`timescale 1ns/1ps
module xpk_ssa_head #(
    parameter integer N = 17,              // tokens (queries = keys)
    parameter integer DK = 16,             // head width d_k (= d_v)
    parameter integer KS_BITS = 4,         // log2 K_S
    parameter integer KO_BITS = 4,         // log2 K_O
    parameter integer WIDTH = 16,          // LFSR width
    parameter [63:0]  TAP_MASK = 64'hB400,
    parameter integer SHARING = 0,         // 0 comparator, 1 row, 2 array
    parameter integer MASK = 1,            // 0 none, 1 diagonal (j == i), 2 causal (j > i)
    parameter integer STEPS_S = 4,         // clocks per score draw
    parameter integer STEPS_O = 4          // clocks per output draw
) (
    input  wire                          clk,
    input  wire                          rst,
    input  wire                          load,     // load both LFSR banks from the seed buses
    input  wire [NREG_S*WIDTH-1:0]       seeds_s,  // register g at [g*WIDTH +: WIDTH]
    input  wire [NREG_O*WIDTH-1:0]       seeds_o,
    input  wire                          start,
    input  wire [N*DK-1:0]               q,        // q[i, d] at bit i*DK + d (same for k, v)
    input  wire [N*DK-1:0]               k,
    input  wire [N*DK-1:0]               v,
    output reg                           done,
    output reg  [N*N*(KS_BITS+1)-1:0]    c_code,   // C[i, j] at [(i*N+j)*(KS_BITS+1) +: KS_BITS+1]
    output reg  [N*N*KS_BITS-1:0]        draw_s,   // draw seen by score comparator (i, j)
    output reg  [N*N-1:0]                s_spikes, // S[i, j] at bit i*N + j
    output reg  [N*DK*(KO_BITS+1)-1:0]   p_code,   // P[i, c] at [(i*DK+c)*(KO_BITS+1) +: KO_BITS+1]
    output reg  [N*DK*KO_BITS-1:0]       draw_o,
    output reg  [N*DK-1:0]               o_spikes  // O[i, c] at bit i*DK + c
);
    localparam integer NREG_S = (SHARING == 0) ? N * N : (SHARING == 1) ? N : 1;
    localparam integer NREG_O = (SHARING == 0) ? N * DK : (SHARING == 1) ? N : 1;
    localparam integer CW_S = KS_BITS + 1;
    localparam integer CW_O = KO_BITS + 1;
    localparam [CW_S-1:0] KS = 1 << KS_BITS;
    localparam [CW_O-1:0] KO = 1 << KO_BITS;
    localparam integer LEN_S = (DK > STEPS_S) ? DK : STEPS_S;
    localparam integer LEN_O = (N > STEPS_O) ? N : STEPS_O;
    localparam [2:0] IDLE = 3'd0, SCORE = 3'd1, GATE = 3'd2, OUTP = 3'd3, RESULT = 3'd4;

    reg [2:0] phase;
    reg [15:0] cyc;
    reg [CW_S-1:0] c_reg [0:N*N-1];
    reg [CW_O-1:0] p_reg [0:N*DK-1];
    reg [N*N-1:0] s_reg;
    wire en_s = (phase == SCORE) && (cyc < STEPS_S);
    wire en_o = (phase == OUTP) && (cyc < STEPS_O);
    wire [NREG_S*KS_BITS-1:0] rs;
    wire [NREG_O*KO_BITS-1:0] ro;
    xpk_lfsr_bank #(.NREG(NREG_S), .WIDTH(WIDTH), .TAP_MASK(TAP_MASK), .K(KS_BITS)) bank_s (
        .clk(clk), .load(load), .seeds(seeds_s), .en(en_s), .draws(rs));
    xpk_lfsr_bank #(.NREG(NREG_O), .WIDTH(WIDTH), .TAP_MASK(TAP_MASK), .K(KO_BITS)) bank_o (
        .clk(clk), .load(load), .seeds(seeds_o), .en(en_o), .draws(ro));

    function integer reg_of;  // register feeding comparator (r, c) of an array with nc columns
        input integer r, c, nc;
        reg_of = (SHARING == 0) ? r * nc + c : (SHARING == 1) ? r : 0;
    endfunction
    function mask_ok;  // the mask gate: 1 where S[i, j] may fire
        input integer i, j;
        mask_ok = (MASK == 1) ? (j != i) : (MASK == 2) ? (j <= i) : 1'b1;
    endfunction

    integer i, j, c, x;
    reg [KS_BITS-1:0] ds;
    reg [KO_BITS-1:0] dout;
    reg [N*N*CW_S-1:0] c_bus;
    reg [N*N*KS_BITS-1:0] ds_bus;
    reg [N*DK*CW_O-1:0] p_bus;
    reg [N*DK*KO_BITS-1:0] do_bus;
    reg [N*DK-1:0] o_bus;
    always @(posedge clk) begin
        done <= 1'b0;
        if (rst) begin
            phase <= IDLE;
            cyc <= 16'd0;
        end else if (start) begin
            phase <= SCORE;
            cyc <= 16'd0;
            for (x = 0; x < N * N; x = x + 1) c_reg[x] <= {CW_S{1'b0}};
            for (x = 0; x < N * DK; x = x + 1) p_reg[x] <= {CW_O{1'b0}};
        end else begin
            case (phase)
                SCORE: begin  // saturating score counters: one AND gate per clock, channel d = cyc
                    if (cyc < DK)
                        for (x = 0; x < N * N; x = x + 1)  // counter x = i*N + j: query i = x / N, key j = x % N
                            if (q[(x / N)*DK + cyc] && k[(x % N)*DK + cyc] && c_reg[x] != KS)
                                c_reg[x] <= c_reg[x] + 1'b1;
                    if (cyc == LEN_S - 1) begin phase <= GATE; cyc <= 16'd0; end else cyc <= cyc + 16'd1;
                end
                GATE: begin   // score comparators and mask
                    for (i = 0; i < N; i = i + 1)
                        for (j = 0; j < N; j = j + 1) begin
                            ds = rs[reg_of(i, j, N)*KS_BITS +: KS_BITS];
                            s_reg[i*N+j] <= ({1'b0, ds} < c_reg[i*N+j]) & mask_ok(i, j);
                        end
                    phase <= OUTP;
                end
                OUTP: begin   // saturating output counters: one AND gate per clock, key token j = cyc
                    if (cyc < N)
                        for (i = 0; i < N; i = i + 1)
                            for (c = 0; c < DK; c = c + 1)
                                if (s_reg[i*N + cyc] && v[cyc*DK + c] && p_reg[i*DK+c] != KO)
                                    p_reg[i*DK+c] <= p_reg[i*DK+c] + 1'b1;
                    if (cyc == LEN_O - 1) begin phase <= RESULT; cyc <= 16'd0; end else cyc <= cyc + 16'd1;
                end
                RESULT: begin // output comparators; every output register loaded at once
                    for (i = 0; i < N; i = i + 1) begin
                        for (j = 0; j < N; j = j + 1) begin
                            c_bus[(i*N+j)*CW_S +: CW_S] = c_reg[i*N+j];
                            ds_bus[(i*N+j)*KS_BITS +: KS_BITS] = rs[reg_of(i, j, N)*KS_BITS +: KS_BITS];
                        end
                        for (c = 0; c < DK; c = c + 1) begin
                            dout = ro[reg_of(i, c, DK)*KO_BITS +: KO_BITS];
                            p_bus[(i*DK+c)*CW_O +: CW_O] = p_reg[i*DK+c];
                            do_bus[(i*DK+c)*KO_BITS +: KO_BITS] = dout;
                            o_bus[i*DK+c] = {1'b0, dout} < p_reg[i*DK+c];
                        end
                    end
                    c_code <= c_bus;
                    draw_s <= ds_bus;
                    s_spikes <= s_reg;
                    p_code <= p_bus;
                    draw_o <= do_bus;
                    o_spikes <= o_bus;
                    done <= 1'b1;
                    phase <= IDLE;
                end
                default: ;
            endcase
        end
    end
endmodule
